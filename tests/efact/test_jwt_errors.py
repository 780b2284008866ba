import base64
import json

import pytest

from l10n_efact_aoc.efact import errors, jwt

NOW = 1_800_000_000


def secret_for(user):
    return {"hub_0012": "key"}.get(user)


def test_token_roundtrip_and_claims():
    token = jwt.make_token("hub_0012", "key", now=NOW, lifetime=60, skew=5)
    claims = jwt.verify(token, secret_for, now=NOW)
    assert claims == {
        "iss": "hub_0012",
        "aud": "efact",
        "iat": NOW - 5,
        "nbf": NOW - 5,
        "exp": NOW + 60,
    }
    header = json.loads(jwt.b64url_decode(token.split(".")[0]))
    assert header == {"alg": "HS256", "typ": "JWT"}
    assert "key" not in token


def test_lifetime_is_capped_under_300s():
    token = jwt.make_token("hub_0012", "key", now=NOW, lifetime=10_000, skew=5)
    claims = jwt.verify(token, secret_for, now=NOW)
    assert claims["exp"] - claims["iat"] <= 300


def test_known_vector_matches_pyjwt_layout():
    # HS256 of the documented example claims, computed independently with hmac
    import hashlib
    import hmac

    claims = {
        "iss": "hub_0012",
        "aud": "efact",
        "iat": 1516239022,
        "nbf": 1516239022,
        "exp": 1516239042,
    }
    token = jwt.encode(claims, "secret")
    head, body, sig = token.split(".")
    expected = hmac.new(b"secret", f"{head}.{body}".encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)) == expected


def _token(claims, secret="key", alg="HS256"):
    if alg != "HS256":
        head = jwt.b64url_encode(json.dumps({"alg": alg, "typ": "JWT"}).encode())
        body = jwt.b64url_encode(json.dumps(claims).encode())
        return f"{head}.{body}.{jwt.b64url_encode(b'x')}"
    return jwt.encode(claims, secret)


BASE = {"iss": "hub_0012", "aud": "efact", "iat": NOW, "nbf": NOW, "exp": NOW + 60}


@pytest.mark.parametrize(
    "token, code",
    [
        ("", 1001),
        (_token({k: v for k, v in BASE.items() if k != "iss"}), 1002),
        (_token(dict(BASE, iss="intrus")), 1003),
        (_token({k: v for k, v in BASE.items() if k != "exp"}), 1004),
        (_token({k: v for k, v in BASE.items() if k != "iat"}), 1005),
        (_token({k: v for k, v in BASE.items() if k != "nbf"}), 1006),
        (_token({k: v for k, v in BASE.items() if k != "aud"}), 1007),
        (_token(dict(BASE, iat=NOW - 400, nbf=NOW - 400, exp=NOW - 100)), 1008),
        (_token(dict(BASE, nbf=NOW + 100, iat=NOW + 100, exp=NOW + 160)), 1009),
        (_token(dict(BASE, exp=NOW + 301)), 1010),
        (_token(dict(BASE, aud="other")), 1011),
        (_token(BASE, secret="wrong"), 1012),
        (_token(BASE, alg="none"), 1012),
        ("not.a.token", 1012),
    ],
)
def test_every_auth_error_code(token, code):
    with pytest.raises(jwt.InvalidToken) as exc:
        jwt.verify(token, secret_for, now=NOW)
    assert exc.value.code == code


def test_leeway_accepts_small_skew():
    token = _token(dict(BASE, nbf=NOW + 3, iat=NOW + 3, exp=NOW + 60))
    assert jwt.verify(token, secret_for, now=NOW, leeway=5)["iss"] == "hub_0012"


def test_error_table_is_complete():
    for code in list(range(1001, 1013)) + [2001, 2002, 2003, 9001, 9002, 9999]:
        info = errors.describe(code)
        assert info.message
    for code in range(3001, 3026):
        assert errors.describe(code, errors.SUPPLIER).kind == "rejected"
        assert errors.describe(code, errors.SUPPLIER).code == code
    for code in range(3001, 3009):
        assert errors.describe(code, errors.RCF).message != errors.describe(code, errors.SUPPLIER).message
    assert {errors.describe(c).kind for c in range(1001, 1013)} == {"auth"}
    assert {errors.describe(c).kind for c in (9001, 9002, 9999)} == {"transient"}
    assert errors.describe(9500).kind == "transient"
    assert errors.describe("abc").code == 0
    text = errors.message(1012, service_text="La clau secreta no és vàlida")
    assert "[1012]" in text and "secret key" in text and "La clau secreta" in text


def _table_texts():
    for table, api in ((errors.COMMON, errors.SUPPLIER), (errors.SUPPLIER_VALIDATION, errors.SUPPLIER)):
        for code in table:
            yield code, api
    for code in errors.RCF_VALIDATION:
        yield code, errors.RCF


@pytest.mark.parametrize(("code", "api"), list(_table_texts()))
def test_messages_are_translated_through_the_hook(code, api):
    info = errors.describe(code, api)
    seen = []

    def translate(text):
        seen.append(text)
        return f"<{text}>"

    text = errors.message(code, api, "el servei diu", with_code=False, translate=translate)
    assert seen == [info.message] + ([info.hint] if info.hint else [])
    assert text.startswith(f"<{info.message}>")
    assert text.endswith("(eFACT: el servei diu)")
    # the untranslated text built by the client splits back into the table's words and the service's
    english = errors.message(code, api, "el servei diu", with_code=False)
    found, rest = errors.split_message(code, english)
    assert found is not None
    assert errors.message(code, found, with_code=False) + rest == english
    assert rest == " (eFACT: el servei diu)"


def test_split_message_of_foreign_text():
    assert errors.split_message(1012, "something else") == (None, "something else")


def test_table_strings_are_marked_for_extraction():
    import ast
    import pathlib

    source = pathlib.Path(errors.__file__).read_text()
    marked = {
        node.args[0].value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", "") == "_"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }
    for code, api in _table_texts():
        info = errors.describe(code, api)
        assert info.message in marked
        assert not info.hint or info.hint in marked
