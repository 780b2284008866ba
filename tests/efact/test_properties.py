from hypothesis import given, settings
from hypothesis import strategies as st

from l10n_efact_aoc.efact import documents, jwt

NOW = 1_800_000_000
users = st.text(min_size=1, max_size=40).filter(lambda s: s.strip())
secrets = st.text(min_size=1, max_size=64)


@settings(max_examples=200, deadline=None)
@given(
    user=users,
    secret=secrets,
    lifetime=st.integers(min_value=1, max_value=10_000),
    skew=st.integers(min_value=0, max_value=60),
)
def test_any_token_we_build_is_accepted_and_short_lived(user, secret, lifetime, skew):
    token = jwt.make_token(user, secret, now=NOW, lifetime=lifetime, skew=skew)
    claims = jwt.verify(token, lambda iss: secret if iss == user else None, now=NOW)
    assert claims["iss"] == user and claims["aud"] == "efact"
    assert claims["exp"] - claims["iat"] <= jwt.MAX_LIFETIME


@settings(max_examples=200, deadline=None)
@given(secret=secrets, position=st.integers(min_value=0, max_value=10_000), char=st.sampled_from("AQgw_-x0"))
def test_a_tampered_token_is_refused(secret, position, char):
    token = jwt.make_token("hub_0012", secret, now=NOW)
    index = position % len(token)
    if token[index] == "." or token[index] == char:
        return
    tampered = token[:index] + char + token[index + 1 :]
    try:
        jwt.verify(tampered, lambda iss: secret if iss == "hub_0012" else None, now=NOW)
    except jwt.InvalidToken:
        return
    # base64url padding bits: a different character may decode to the same bytes
    assert jwt.b64url_decode(tampered.split(".")[2]) == jwt.b64url_decode(token.split(".")[2])


@given(st.from_regex(r"(ES)?[A-Z][0-9]{7}[A-Z0-9]", fullmatch=True))
def test_nif_normalisation_ignores_the_country_prefix(nif):
    bare = nif[2:] if nif.startswith("ES") and len(nif) == 11 else nif
    assert documents.normalize_nif(nif) == documents.normalize_nif("ES" + bare) == bare
