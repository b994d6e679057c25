"""Simulated Entra ID: metadata, JWKS, the v1 and v2 token endpoints, instance discovery,
admin consent, and errors in Entra's shape.

Paths (host ignored when served on loopback; in-process the login hosts pick the cloud):

- ``/{tenant}/v2.0/.well-known/openid-configuration`` and ``/{tenant}/.well-known/openid-configuration``
- ``/{tenant}/discovery/v2.0/keys`` and ``/{tenant}/discovery/keys`` (``common`` lists every tenant's keys)
- ``POST /{tenant}/oauth2/v2.0/token`` — ``scope=<resource>/.default``, secret or client assertion
- ``POST /{tenant}/oauth2/token`` — v1, ``resource=<resource>``; numbers come back as strings
- ``/common/discovery/instance`` — what msal asks after a token error
- ``GET /{tenant}/adminconsent?client_id=..&redirect_uri=..&state=..`` — consents at once and redirects
- ``GET|POST /{tenant}/oauth2/v2.0/authorize`` and the ``authorization_code`` grant — the MSSP's own
  tenant only (``mssp``): the simulated sign-in (:mod:`runner.sim.signin`)

``{tenant}`` is the tenant's GUID or its ``NAME.onmicrosoft.com`` domain.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

import httpx
import jwt

from runner.auth import clouds
from runner.sim.signin import ASSETS

if TYPE_CHECKING:  # pragma: no cover
    from runner.sim.cloud import SimTenant, SimulatedCloud
    from runner.sim.signin import SignInDirectory

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

ERRORS: dict[int, tuple[str, int, str]] = {  # code -> (error, HTTP status, description)
    7000215: ("invalid_client", 401, "Invalid client secret provided. Ensure the secret being sent in the "
              "request is the client secret value, not the client secret ID, for a secret added to app '{app}'."),
    7000222: ("invalid_client", 401, "The provided client secret keys for app '{app}' are expired. Visit the "
              "Azure portal to create new keys for your app."),
    700027: ("invalid_client", 401, "Client assertion failed signature validation."),
    700016: ("unauthorized_client", 400, "Application with identifier '{app}' was not found in the directory "
             "'{tenant}'. This can happen if the application has not been installed by the administrator of "
             "the tenant or consented to by any user in the tenant."),
    90002: ("invalid_request", 400, "Tenant '{tenant}' not found. Check to make sure you have the correct "
            "tenant ID and are signing into the correct cloud."),
    90038: ("invalid_request", 400, "Tenant '{tenant}' belongs to another national cloud. Current cloud "
            "instance '{instance}' does not federate with it."),
    9001023: ("invalid_request", 400, "The grant type isn't supported over the /common or /consumers endpoints. "
              "Please use the /organizations or tenant-specific endpoint."),
    500011: ("invalid_resource", 400, "The resource principal named {resource} was not found in the tenant "
             "named {tenant}. This can happen if the application has not been installed by the administrator "
             "of the tenant or consented to by any user in the tenant."),
    650052: ("invalid_request", 400, "The app is trying to access a service '{resource}' that your "
             "organization '{tenant}' lacks a service principal for, or has not subscribed to or enabled."),
    53003: ("invalid_grant", 400, "Access has been blocked by Conditional Access policies. The access policy "
            "does not allow token issuance."),
    700022: ("invalid_scope", 400, "The provided value for the input parameter scope is not valid because it "
             "contains more than one resource. Scope {scope} is not valid."),
    70011: ("invalid_scope", 400, "The provided request must include a 'scope' input parameter. The provided "
            "value for the input parameter 'scope' is not valid. The scope {scope} is not valid."),
    900144: ("invalid_request", 400, "The request body must contain the following parameter: '{param}'."),
    70003: ("unsupported_grant_type", 400, "The app requested an unsupported grant type '{grant}'."),
    70000: ("invalid_grant", 400, "Provided grant is invalid or malformed. {why}"),
    70008: ("invalid_grant", 400, "The provided authorization code or refresh token has expired due to "
            "inactivity. Send a new interactive authorization request for this user and resource."),
    54005: ("invalid_grant", 400, "OAuth2 Authorization code was already redeemed, please retry with a new "
            "valid code or use an existing refresh token."),
    501481: ("invalid_grant", 400, "The Code_Verifier does not match the code_challenge supplied in the "
             "authorization request."),
}


def error_response(code: int, **fmt: Any) -> httpx.Response:
    """An Entra-shaped error answer for AADSTS ``code``."""
    error, status, text = ERRORS[code]
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
    trace, corr = str(uuid.uuid4()), str(uuid.uuid4())
    try:
        text = text.format(**fmt)
    except (KeyError, IndexError):
        pass
    body = {
        "error": error,
        "error_description": f"AADSTS{code}: {text}\r\nTrace ID: {trace}\r\nCorrelation ID: {corr}\r\nTimestamp: {now}",
        "error_codes": [code], "timestamp": now, "trace_id": trace, "correlation_id": corr,
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }
    return httpx.Response(status, json=body)


def json_response(data: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(data).encode(),
                          headers={"content-type": "application/json; charset=utf-8"})


_json = json_response


class EntraSimulator:
    """Answers Entra ID requests from a :class:`SimulatedCloud`'s state."""

    def __init__(self, cloud: "SimulatedCloud") -> None:
        self.cloud = cloud
        self._signin: "SignInDirectory | None" = None

    @property
    def signin(self) -> "SignInDirectory":
        """The MSSP's own tenant with its users and script clients (made on first use)."""
        if self._signin is None:
            from runner.sim.signin import SignInDirectory

            self._signin = SignInDirectory(self.cloud)
        return self._signin

    def handle(self, request: httpx.Request, family: str | None) -> httpx.Response:
        """``family``: ``worldwide``/``usgov`` from the login host, ``None`` on loopback (any)."""
        tenant, response = self._dispatch(request, family)
        entry = {"method": request.method, "host": request.url.host, "path": request.url.path,
                 "tenant": tenant, "status": response.status_code}
        if response.status_code >= 400:
            try:
                entry["error_codes"] = response.json().get("error_codes")
            except ValueError:
                pass
        self.cloud._record(entry)
        return response

    def _dispatch(self, request: httpx.Request, family: str | None) -> tuple[str, httpx.Response]:
        parts = [p for p in request.url.path.split("/") if p]
        # https whatever scheme reached us: behind a TLS-terminating relay the request arrives as
        # http, yet msal and azure-identity refuse any endpoint in a discovery document that is not
        # https, and the real service only ever names https ones.
        base = f"https://{request.url.netloc.decode()}"
        if not parts:
            return "", _json({"error": "not_found"}, 404)
        head, rest = parts[0], parts[1:]
        if head == "common" and rest == ["discovery", "instance"]:
            return head, self._instance(request)
        if head in ("common", "organizations") and rest in (["discovery", "v2.0", "keys"], ["discovery", "keys"]):
            return head, _json({"keys": [k.jwk() for t in self.cloud.tenants.values() for k in t.keys]})
        tenant = self.cloud.find_tenant(head) or self.signin.find_tenant(head)
        label = tenant.name if tenant else head
        kind = self._kind(rest, request.method)
        if kind is None:
            return label, _json({"error": "not_found", "error_description": f"no such endpoint: {request.url.path}"}, 404)
        if kind in ("token_v1", "token_v2"):
            self.cloud._count(label)
        if head in ("common", "organizations", "consumers"):
            if kind in ("token_v1", "token_v2"):
                return label, error_response(9001023)
            if kind == "metadata_v2":
                return label, _json(self._metadata(base, None, "{tenantid}", "2.0"))
        if tenant is None:
            return label, error_response(90002, tenant=head)
        if family and clouds.CLOUD_FAMILY[tenant.cloud] != family:
            return label, error_response(90038, tenant=tenant.id, instance=request.url.host)
        if kind == "metadata_v2":
            return label, _json(self._metadata(base, tenant, tenant.id, "2.0"))
        if kind == "metadata_v1":
            return label, _json(self._metadata(base, tenant, tenant.id, "1.0"))
        if kind == "keys":
            return label, _json({"keys": [k.jwk() for k in tenant.keys]})
        if kind == "adminconsent":
            return label, self._adminconsent(request, tenant)
        signin = tenant is self.signin.tenant
        if kind in ("authorize", "asset"):
            if not signin:
                return label, _json({"error": "not_found", "error_description": "the simulated sign-in page is "
                                     f"the MSSP tenant's ({self.signin.tenant.domain})"}, 404)
            return label, self.signin.authorize(request) if kind == "authorize" else self.signin.asset(rest[-1])
        form = dict(parse_qsl(request.content.decode("utf-8", "replace"), keep_blank_values=True))
        if signin:
            return label, self.signin.token(form, kind)
        return label, self._token(request, tenant, form, kind)

    @staticmethod
    def _kind(rest: list[str], method: str) -> str | None:
        table = {
            ("v2.0", ".well-known", "openid-configuration"): ("GET", "metadata_v2"),
            (".well-known", "openid-configuration"): ("GET", "metadata_v1"),
            ("discovery", "v2.0", "keys"): ("GET", "keys"),
            ("discovery", "keys"): ("GET", "keys"),
            ("oauth2", "v2.0", "token"): ("POST", "token_v2"),
            ("oauth2", "token"): ("POST", "token_v1"),
            ("adminconsent",): ("GET", "adminconsent"),
            ("v2.0", "adminconsent"): ("GET", "adminconsent"),
        }
        if tuple(rest) == ("oauth2", "v2.0", "authorize"):
            return "authorize" if method in ("GET", "POST") else None
        if len(rest) == 3 and rest[:2] == ["oauth2", "v2.0"] and rest[2] in ASSETS:
            return "asset" if method == "GET" else None
        found = table.get(tuple(rest))
        return found[1] if found and found[0] == method else None

    # ---- documents ---------------------------------------------------------------------------

    def _metadata(self, base: str, tenant: "SimTenant | None", tid: str, version: str) -> dict:
        login = clouds.cloud(tenant.cloud if tenant else "commercial").authority_url
        v2 = version == "2.0"
        prefix = f"{base}/{tid}"
        return {
            "token_endpoint": f"{prefix}/oauth2/v2.0/token" if v2 else f"{prefix}/oauth2/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{prefix}/discovery/v2.0/keys" if v2 else f"{prefix}/discovery/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{login}/{tid}/v2.0" if v2 else f"https://sts.windows.net/{tid}/",
            "authorization_endpoint": f"{prefix}/oauth2/v2.0/authorize" if v2 else f"{prefix}/oauth2/authorize",
            "http_logout_supported": True,
            "tenant_region_scope": ("USGov" if tenant and clouds.CLOUD_FAMILY[tenant.cloud] == "usgov"
                                    else "NA"),
            "cloud_instance_name": "microsoftonline.us" if login.endswith(".us") else "microsoftonline.com",
        }

    def _instance(self, request: httpx.Request) -> httpx.Response:
        endpoint = request.url.params.get("authorization_endpoint", "")
        tenant = "common"
        if endpoint:
            bits = httpx.URL(endpoint).path.split("/")
            tenant = bits[1] if len(bits) > 1 and bits[1] else "common"
        host = request.url.host
        return _json({
            "tenant_discovery_endpoint": f"https://{host}/{tenant}/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [
                {"preferred_network": "login.microsoftonline.com", "preferred_cache": "login.windows.net",
                 "aliases": ["login.microsoftonline.com", "login.windows.net", "login.microsoft.com",
                             "sts.windows.net"]},
                {"preferred_network": "login.microsoftonline.us", "preferred_cache": "login.microsoftonline.us",
                 "aliases": ["login.microsoftonline.us", "login.usgovcloudapi.net"]},
            ],
        })

    def _adminconsent(self, request: httpx.Request, tenant: "SimTenant") -> httpx.Response:
        params = request.url.params
        redirect = params.get("redirect_uri") or "https://portal.azure.com"
        if params.get("client_id") != self.cloud.app.client_id:
            query = {"error": "unauthorized_client", "error_description": "AADSTS700016: unknown application"}
        else:
            self.cloud.grant_consent(tenant.name)
            query = {"tenant": tenant.id, "admin_consent": "True"}
        if params.get("state"):
            query["state"] = params["state"]
        return httpx.Response(302, headers={"location": f"{redirect}?{urlencode(query)}"})

    # ---- tokens ------------------------------------------------------------------------------

    def _token(self, request: httpx.Request, tenant: "SimTenant", form: dict, kind: str) -> httpx.Response:
        cloud = self.cloud
        grant = form.get("grant_type", "")
        if not grant:
            return error_response(900144, param="grant_type")
        if grant != "client_credentials":
            return error_response(70003, grant=grant)
        client_id = form.get("client_id", "")
        if not client_id:
            return error_response(900144, param="client_id")
        app = cloud.app
        if client_id != app.client_id or not tenant.consented:
            return error_response(700016, app=client_id, tenant=tenant.id)
        if "client_assertion" in form:
            acr = "2"
            if form.get("client_assertion_type") != ASSERTION_TYPE or not cloud.check_assertion(
                    form["client_assertion"], tenant, client_id):
                return error_response(700027)
        elif "client_secret" in form:
            acr = "1"
            if form["client_secret"] != app.secret.reveal():
                return error_response(7000215, app=client_id)
            if app.secret_expired:
                return error_response(7000222, app=client_id)
        else:
            return error_response(900144, param="client_assertion' or 'client_secret")
        if kind == "token_v2":
            scope = form.get("scope", "")
            items = scope.split()
            if not items or not all(i.endswith("/.default") for i in items):
                return error_response(70011, scope=scope or "''")
            if len({i.lower() for i in items}) > 1:
                return error_response(700022, scope=scope)
            requested = items[0][: -len("/.default")]
        else:
            requested = form.get("resource", "")
            if not requested:
                return error_response(900144, param="resource")
        api = cloud.resource_api(requested)
        if api is None or not tenant.provisioned.get(api, True):
            return error_response(500011, resource=requested, tenant=tenant.id)
        if not tenant.subscribed.get(api, True):
            return error_response(650052, resource=requested, tenant=tenant.id)
        if tenant.conditional_access_block:
            return error_response(53003)
        raw, claims = cloud.mint(tenant, api, audience=requested.rstrip("/"), appidacr=acr)
        lifetime = int(claims["exp"] - claims["iat"])
        if kind == "token_v2":
            return _json({"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime,
                          "access_token": raw})
        return _json({"token_type": "Bearer", "expires_in": str(lifetime), "ext_expires_in": str(lifetime),
                      "expires_on": str(int(claims["exp"])), "not_before": str(int(claims["nbf"])),
                      "resource": requested, "access_token": raw})


def decode_assertion(assertion: str) -> tuple[dict, dict]:
    try:
        return jwt.get_unverified_header(assertion), jwt.decode(assertion, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return {}, {}
