from hypothesis import given
from hypothesis import strategies as st

from einvoice_common.einvoice import redact


def test_secret_headers_are_masked():
    assert redact.headers({"Authorization": "Bearer abc", "Accept": "json"}) == {
        "Authorization": "***",
        "Accept": "json",
    }


def test_json_secret_keys_are_masked_at_any_depth():
    body = '{"user": "u", "auth": {"password": "p4ss", "refresh_token": "r"}, "items": [{"client_secret": "s"}]}'
    text = redact.text(body)
    assert "p4ss" not in text and '"r"' not in text and '"s"' not in text
    assert '"user": "u"' in text


def test_form_bodies_and_query_strings_are_masked():
    assert "c0de" not in redact.text("grant_type=authorization_code&code=c0de&redirect_uri=x")
    assert redact.url("https://h/cb?code=c0de&state=s") == "https://h/cb?code=***&state=s"


def test_known_secret_values_are_masked_anywhere():
    assert redact.text("<xml>token is TOKEN-1234</xml>", secrets=["TOKEN-1234"]) == "<xml>token is ***</xml>"


def test_binary_and_long_bodies_are_bounded():
    assert redact.text(b"\xff\xfe\x00") == "<3 bytes of binary data>"
    assert len(redact.text("x" * 100000)) < redact.TEXT_LIMIT + 100


@given(st.text(min_size=6, alphabet=st.characters(blacklist_categories=("Cs",))))
def test_a_known_secret_never_survives(secret):
    body = f'{{"note": "{secret}"}} and {secret}'
    assert secret not in redact.text(body, secrets=[secret])


def test_snippet_masks_secrets_in_free_text():
    text = redact.snippet(
        'HTTP 400: \'{"access_token": "abc123def", "x": 1\' token=sekret9 '
        "Authorization: Bearer eyJhbGciOi.eyJleHAiOjE.sig",
        secrets=["my-known-secret"],
    )
    assert "abc123def" not in text and "sekret9" not in text and "eyJhbGciOi" not in text
    assert '"x": 1' in text
    assert redact.snippet("uses my-known-secret here", ["my-known-secret"]) == "uses *** here"


def test_snippet_leaves_prose_alone():
    assert redact.snippet("no valid access token: authenticate again") == "no valid access token: authenticate again"
