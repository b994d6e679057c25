"""pyjwt validation: forged tokens are rejected, real ones pass, JWKS is refetched on a new kid."""

from __future__ import annotations

import time

import jwt
import pytest
from auth_helpers import call_mde, run
from cryptography.hazmat.primitives.asymmetric import rsa

from runner.errors import AuthError
from runner.sim import SimulatedCloud
from runner.sim.cloud import SimKey

MDE = "https://api.securitycenter.microsoft.com"


def _validate(provider, raw, tenant="contoso", api="mde", resource=MDE):
    t = provider.config.tenant(tenant)
    return run(provider.validator.validate(raw, tenant=tenant, tenant_id=t.id,
                                           authority_host="login.microsoftonline.com", api=api, resource=resource))


def _forged(cloud, kind):
    t = cloud.tenant("contoso")
    now = int(time.time())
    real_kid = t.keys[-1].kid
    if kind == "hs256":
        claims = jwt.decode(cloud.issue_token("contoso"), options={"verify_signature": False})
        return jwt.encode(claims, "not-a-key-but-long-enough-for-hs256-0123456789", algorithm="HS256",
                          headers={"kid": real_kid})
    if kind == "other_key":  # same kid, another private key
        other = SimKey(rsa.generate_private_key(public_exponent=65537, key_size=2048), kid=real_kid)
        return cloud.issue_token("contoso", key=other)
    if kind == "unknown_kid":
        return cloud.issue_token("contoso", key=SimKey(rsa.generate_private_key(public_exponent=65537, key_size=2048)))
    if kind == "wrong_aud":
        return cloud.issue_token("contoso", aud="https://graph.microsoft.com")
    if kind == "wrong_tid":
        return cloud.issue_token("contoso", tid=cloud.tenant("fabrikam").id)
    if kind == "wrong_iss":
        return cloud.issue_token("contoso", iss=f"https://sts.windows.net/{cloud.tenant('fabrikam').id}/")
    if kind == "expired":
        return cloud.issue_token("contoso", iat=now - 7200, nbf=now - 7200, exp=now - 3600)
    if kind == "not_yet_valid":
        return cloud.issue_token("contoso", nbf=now + 3600, exp=now + 7200)
    if kind == "no_exp":
        return cloud.issue_token("contoso", exp=None)
    raise AssertionError(kind)


REASONS = {
    "hs256": "unexpected signing algorithm 'HS256'",
    "other_key": "signature does not match",
    "unknown_kid": "not among the tenant's signing keys",
    "wrong_aud": "audience 'https://graph.microsoft.com' is not Microsoft Defender for Endpoint",
    "wrong_tid": "issued for tenant",
    "wrong_iss": "issuer",
    "expired": "expired",
    "not_yet_valid": "not valid before",
    "no_exp": "",
}


@pytest.mark.parametrize("kind", list(REASONS))
def test_forged_tokens_are_rejected(cloud, make_provider, kind):
    provider = make_provider(cloud)
    run(provider.get_token("contoso", "mde"))  # JWKS fetched
    with pytest.raises(AuthError, match="failed validation") as info:
        _validate(provider, _forged(cloud, kind))
    assert REASONS[kind] in info.value.message
    assert info.value.where.tenant == "contoso"


def test_alg_none_is_rejected(cloud, make_provider):
    claims = jwt.decode(cloud.issue_token("contoso"), options={"verify_signature": False})
    raw = jwt.encode(claims, None, algorithm="none")
    with pytest.raises(AuthError, match="unexpected signing algorithm 'none'"):
        _validate(make_provider(cloud), raw)


def test_not_a_jwt_is_rejected(cloud, make_provider):
    with pytest.raises(AuthError, match="not a JSON Web Token"):
        _validate(make_provider(cloud), "opaque-token-value")


@pytest.mark.parametrize("claims", [{"tid": "fabrikam"}, {"aud": "https://graph.microsoft.com"},
                                    {"exp": 1000}])
def test_bad_token_from_the_token_endpoint_stops_before_the_api(cloud, fake_mde, make_provider, claims):
    if "tid" in claims:
        claims = {"tid": cloud.tenant("fabrikam").id}
    cloud.override_claims("contoso", **claims)
    provider = make_provider(cloud)
    with pytest.raises(AuthError, match="failed validation"):
        run(call_mde(provider, cloud))
    assert fake_mde.calls == []


def test_v1_and_v2_issuer_forms_are_accepted(cloud, make_provider):
    provider = make_provider(cloud)
    assert _validate(provider, cloud.issue_token("contoso", version="1.0")).claims["ver"] == "1.0"
    v2 = _validate(provider, cloud.issue_token("contoso", version="2.0"))
    assert v2.claims["iss"].endswith("/v2.0") and v2.verified_signature


def test_every_alias_of_the_resource_is_an_accepted_audience(cloud, make_provider):
    provider = make_provider(cloud)
    for aud in (MDE, "https://securitycenter.onmicrosoft.com/windowsatpservice",
                "https://api.securitycenter.windows.com", "fc780465-2017-40d4-a0c5-307022471b92"):
        assert _validate(provider, cloud.issue_token("contoso", aud=aud)).claims["aud"] == aud


def test_jwks_is_refetched_on_an_unknown_kid(make_provider):
    offset = [0.0]
    cloud = SimulatedCloud()
    provider = make_provider(cloud, clock=lambda: time.time() + offset[0])
    run(provider.get_token("contoso", "mde"))
    assert provider.validator.fetches == 1
    new_key = cloud.rotate_key("contoso")
    raw = cloud.issue_token("contoso")
    assert jwt.get_unverified_header(raw)["kid"] == new_key.kid
    with pytest.raises(AuthError, match="not among the tenant's signing keys"):
        _validate(provider, raw)  # within a minute of the last fetch: no refetch (no hammering)
    assert provider.validator.fetches == 1
    offset[0] = 61
    assert _validate(provider, raw).verified_signature
    assert provider.validator.fetches == 2
    assert _validate(provider, cloud.issue_token("contoso", key=cloud.tenant("contoso").keys[0]))  # old key kept
    assert provider.validator.fetches == 2


def test_a_cached_token_that_fails_validation_is_replaced(tmp_path, make_provider):
    cloud = SimulatedCloud(state_dir=tmp_path / "a")
    make_provider(cloud, cache_path=tmp_path / "c.json")
    run(make_provider(cloud, cache_path=tmp_path / "c.json").get_token("contoso", "mde"))
    # a new simulated cloud with other signing keys: the persisted token is no longer valid
    other = SimulatedCloud(state_dir=tmp_path / "b")
    other.tenant("contoso").keys[:] = [other._key("fresh-contoso", 7)]
    tok = run(make_provider(other, cache_path=tmp_path / "c.json").get_token("contoso", "mde"))
    assert tok.source == "identity_provider" and other.total_token_requests() == 1


def test_graph_tokens_with_a_nonce_are_checked_by_claims_only(make_provider):
    cloud = SimulatedCloud(nonce_apis={"graph"})
    provider = make_provider(cloud)
    tok = run(provider.get_token("contoso", "graph"))
    assert tok.verified_signature is False and "SecurityIncident.Read.All" in tok.roles
    assert run(provider.get_token("contoso", "mde")).verified_signature is True
    with pytest.raises(AuthError, match="audience"):
        _validate(provider, cloud.issue_token("contoso", "graph", aud=MDE), api="graph",
                  resource="https://graph.microsoft.com")
    with pytest.raises(AuthError, match="issued for tenant"):
        _validate(provider, cloud.issue_token("contoso", "graph", tid=cloud.tenant("fabrikam").id), api="graph",
                  resource="https://graph.microsoft.com")


def _counting_metadata(provider, issuer_v1=None):
    """Record which metadata documents validation asks for; optionally name another v1 issuer."""
    real, asked = provider.validator.metadata, []

    async def metadata(host, tenant_id, version, *a, **kw):
        asked.append(version)
        doc = await real(host, tenant_id, version, *a, **kw)
        if issuer_v1 and version == "1.0":
            doc = {**doc, "issuer": issuer_v1.replace("{tid}", "{tenantid}")}
        return doc

    provider.validator.metadata = metadata
    return asked


def test_a_documented_issuer_needs_no_metadata_document(cloud, make_provider):
    provider = make_provider(cloud)
    asked = _counting_metadata(provider)
    assert _validate(provider, cloud.issue_token("contoso", version="1.0")).verified_signature
    assert _validate(provider, cloud.issue_token("contoso", version="2.0")).verified_signature
    assert "1.0" not in asked  # only the v2 document, for the signing keys' address


def test_another_issuer_is_accepted_only_when_the_tenant_metadata_names_it(cloud, make_provider):
    provider = make_provider(cloud)
    tid = cloud.tenant("contoso").id
    asked = _counting_metadata(provider, issuer_v1="https://sts.sovereign.test/{tid}/")
    ok = _validate(provider, cloud.issue_token("contoso", version="1.0", iss=f"https://sts.sovereign.test/{tid}/"))
    assert ok.claims["iss"] == f"https://sts.sovereign.test/{tid}/" and "1.0" in asked
    with pytest.raises(AuthError, match="issuer 'https://sts.elsewhere.test/"):
        _validate(provider, cloud.issue_token("contoso", version="1.0", iss=f"https://sts.elsewhere.test/{tid}/"))


@pytest.mark.parametrize("raw, reason", [
    ("a.b", "not a JSON Web Token"),
    ("a.b.c.d", "not a JSON Web Token"),
    ("!!!.e30.sig", "not a JSON Web Token"),
    ("WzFd.e30.sig", "not a JSON Web Token"),  # the header is [1], not an object
    (None, "not a JSON Web Token"),
])
def test_malformed_compact_tokens_are_rejected(cloud, make_provider, raw, reason):
    with pytest.raises(AuthError, match=reason):
        _validate(make_provider(cloud), raw)


def test_a_readable_header_over_a_broken_body_is_still_rejected(cloud, make_provider):
    provider = make_provider(cloud)
    head, _, sig = cloud.issue_token("contoso").split(".")
    with pytest.raises(AuthError, match="cannot be decoded|signature does not match"):
        _validate(provider, f"{head}.bm90LWpzb24.{sig}")  # "not-json", under a real signature
    with pytest.raises(AuthError, match="cannot be decoded|signature does not match"):
        _validate(provider, f"{head}.e30=.{sig}")  # padding: PyJWT's strict parse refuses it
