"""``core.http_request``: one HTTP request through the run's network (real, simulated, or
simulated with allowed hosts), and a step that fails on an answer it did not expect.

Success is a 2xx answer unless the step lists what it accepts (``expect: [2xx, 404]``); any
other answer fails the step with an :class:`~runner.errors.ApiError` naming the method, the URL
(without its query), the status and the start of the body. A 429 is retryable, a 5xx when the
request is safe to repeat (GET, HEAD, OPTIONS, PUT, DELETE, PATCH, or ``idempotent: true``), so
a step's ``retry:`` tries again. A request that never got an answer fails the same way.
"""

from __future__ import annotations

import base64
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from runner.errors import ActionInputError, ApiError, ConfigError, RateLimited, StepError, TransientApiError
from runner.secrets import Secret, redact, reveal, reveal_all

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"})  # as runner.apis retries them
_EXCERPT = 200  # characters of an unexpected answer's body shown in the error
_Scalar = str | int | float | bool | None


def _text_or_null(schema: dict) -> None:
    """How ``body`` reads in the catalogue and the editor schema: text (or bytes from Python)."""
    schema["anyOf"] = [{"type": "string"}, {"type": "null"}]


class BasicAuth(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str
    password: Secret = Field(description="Recorded as ***, whether a secret or plain text")


class HttpInput(BaseModel):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] = "GET"
    url: str = Field(description="An http:// or https:// URL")
    headers: dict[str, str | Secret] = Field(default_factory=dict, description="Request headers")
    params: dict[str, Any] = Field(default_factory=dict, description="Query parameters")
    json_: Any = Field(None, alias="json", description="A JSON body")
    form: dict[str, _Scalar | Secret | list[_Scalar | Secret]] | None = Field(
        None, description="A form body (application/x-www-form-urlencoded); a list value repeats the key")
    body: str | bytes | Secret | None = Field(None, description="A raw body (text is sent as UTF-8)",
                                              json_schema_extra=_text_or_null)
    content_type: str | None = Field(None, description="The Content-Type of `body` (default: text/plain; "
                                                       "charset=utf-8, or application/octet-stream for bytes)")
    auth: str | None = Field(None, description="A registered Entra ID API (`soar plugins list`), e.g. graph: a token for it in the run's tenant")
    basic_auth: BasicAuth | None = Field(None, description="HTTP basic auth: {username, password}")
    expect: list[int | str] | None = Field(
        None, description="The statuses that mean success: codes and classes, e.g. [2xx, 404] "
                          "(default: any 2xx); any other answer fails the step")
    follow_redirects: bool = Field(False, description="Follow 3xx redirects (else a 3xx is not a success)")
    verify: bool = Field(True, description="Check the server's TLS certificate; false is dangerous "
                                           "and warns")
    ca_bundle: str | None = Field(None, description="A PEM file of CA certificates to trust instead of "
                                                    "the system's (a private CA)")
    idempotent: bool = Field(False, description="The request is safe to send twice: a 5xx answer to a "
                                                "POST is retried by the step's `retry:`")
    timeout: float = Field(30.0, description="Seconds to wait for a connection, and for each part of the answer")
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @field_validator("expect")
    @classmethod
    def _expect(cls, value: list[int | str] | None) -> list[int | str] | None:
        if value is None:
            return None
        out: list[int | str] = []
        for item in value:
            text = str(item).strip().lower()
            if text.isdigit() and 100 <= int(text) <= 599:
                out.append(int(text))
            elif len(text) == 3 and text[0] in "12345" and text[1:] == "xx":
                out.append(text)
            else:
                raise ValueError(f"{item!r} is not an HTTP status (100-599) or a status class (1xx-5xx)")
        if not out:
            raise ValueError("an empty list accepts no answer; leave `expect` out for any 2xx")
        return out

    # the checks below read inputs declared earlier (``info.data``): each is reported at its own
    # input, so `soar validate` locates a contradiction written in the playbook
    @field_validator("form", "body")
    @classmethod
    def _one_body(cls, value: Any, info: ValidationInfo) -> Any:
        given = [name for name, key in (("json", "json_"), ("form", "form")) if info.data.get(key) is not None]
        if value is not None and given and given[0] != info.field_name:
            raise ValueError(f"give one body: `{info.field_name}` and `{given[0]}` were both given")
        return value

    @field_validator("content_type")
    @classmethod
    def _typed_body(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("body") is None:
            raise ValueError("`content_type` is the type of `body`, which is not given")
        return value

    @field_validator("basic_auth")
    @classmethod
    def _one_auth(cls, value: BasicAuth | None, info: ValidationInfo) -> BasicAuth | None:
        if value is not None:
            if info.data.get("auth") is not None:
                raise ValueError("give `auth` or `basic_auth`, not both")
            if any(k.lower() == "authorization" for k in info.data.get("headers") or {}):
                raise ValueError("`basic_auth` and an Authorization header were both given")
        return value

    @field_validator("ca_bundle")
    @classmethod
    def _trusted(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("verify") is False:
            raise ValueError("`ca_bundle` and `verify: false` contradict each other")
        return value


class HttpOutput(BaseModel):
    status: int
    headers: dict[str, str]
    json_: Any = Field(None, alias="json")
    text: str
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


async def core_http_request(ctx, inputs: HttpInput) -> HttpOutput:
    """Make one HTTP request through the run's network (real, or the simulated cloud and the
    allowed hosts); an answer that is not a 2xx (or one of ``expect``) fails the step."""
    import httpx  # here, not at import: `soar validate` never needs it (start-up)

    from runner.http import is_loopback

    headers = {k: reveal(v) for k, v in inputs.headers.items()}
    for name, value in headers.items():
        if not value.isascii():  # httpx would raise a bare UnicodeEncodeError (a "plugin bug")
            raise ActionInputError(f"header '{name}' holds a non-ASCII character, which an HTTP header cannot carry",
                                   hint="percent-encode the value, or send it in `json` or `params`")
    try:
        url = httpx.URL(inputs.url)
    except httpx.InvalidURL as exc:
        raise ActionInputError(f"url is not a valid URL ({exc})", hint="give an http:// or https:// URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ActionInputError(f"url {_shown(url)} is not an http:// or https:// URL",
                               hint="give an http:// or https:// URL")
    if inputs.auth:
        token = await ctx.token(inputs.auth)
        headers["Authorization"] = token.authorization_header().reveal()
    if inputs.basic_auth is not None:
        headers["Authorization"] = _basic(inputs.basic_auth)
        if url.scheme == "http" and not is_loopback(url.host):
            ctx.warn(f"basic auth credentials went to {url.host} over plain http: anyone on the network "
                     "path can read them; use https")
    content = data = None
    if inputs.body is not None:
        content = reveal(inputs.body)
        if inputs.content_type is not None:
            headers["Content-Type"] = inputs.content_type
        elif not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = ("application/octet-stream" if isinstance(content, bytes)
                                       else "text/plain; charset=utf-8")
    elif inputs.form is not None:
        data = reveal_all(inputs.form)
    verify = _tls_option(inputs)
    if inputs.verify is False:
        ctx.warn(f"TLS certificate verification is off for {url.host} (`verify: false`): anyone on the network "
                 "path can read and change the request and its answer; trust the server's CA with "
                 "`ca_bundle:` instead")
    network = ctx.services.network
    if network is None:
        raise ConfigError("no network is configured for core.http_request")
    client = await network.pooled_async_client(verify)  # one pool per run's loop: no connection per call
    what = f"{inputs.method} {_shown(url)}"
    # a secret goes on the wire as its value wherever it is (query, nested JSON, form, body); the
    # step's recorded inputs keep the Secret, so they stay masked (docs/engine.md, "Secrets")
    try:
        resp = await client.request(inputs.method, url, headers=headers, params=reveal_all(inputs.params) or None,
                                    json=reveal_all(inputs.json_), data=data, content=content,
                                    timeout=inputs.timeout, follow_redirects=inputs.follow_redirects)
    except httpx.HTTPError as exc:
        raise _no_answer(exc, what, inputs, httpx) from None
    if not _expected(resp.status_code, inputs.expect):
        raise _unexpected(resp, what, inputs)
    try:
        body = resp.json()
    except ValueError:
        body = None
    return HttpOutput(status=resp.status_code, headers=dict(resp.headers), json=body, text=resp.text)


def _basic(auth: BasicAuth) -> str:
    """The Authorization header's value; the encoded credentials are registered as a secret
    value, so a server's echo of the header is masked like the password itself."""
    encoded = base64.b64encode(f"{auth.username}:{auth.password.reveal()}".encode()).decode("ascii")
    Secret(encoded, name="basic_auth")
    return f"Basic {encoded}"


def _tls_option(inputs: HttpInput) -> bool | str:
    """``verify`` for the network: ``True``, ``False``, or the CA bundle's absolute path (loaded
    here, so a bad file fails the step the same way on a simulated network)."""
    if inputs.ca_bundle is None:
        return inputs.verify
    import ssl
    from pathlib import Path

    from runner.http import ca_context

    path = str(Path(inputs.ca_bundle).expanduser().resolve())
    try:
        ca_context(path)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or type(exc).__name__
        raise ActionInputError(f"ca_bundle {inputs.ca_bundle}: cannot be read as PEM CA certificates ({reason})",
                               hint="give the path of a PEM file holding the CA certificate(s) that signed "
                                    "the server's certificate (relative paths start at the current directory)") from None
    return path


def _shown(url: Any) -> str:
    """``scheme://host[:port]/path`` of a URL, without credentials or query (which may hold secrets)."""
    port = f":{url.port}" if url.port is not None else ""
    query = "?…" if url.query else ""
    shown = f"{url.scheme}://{url.host}{port}{url.path}{query}"
    if redact(shown) == shown:
        return shown
    # the URL holds a secret (a chat webhook's URL is one): name the host, never the rest
    origin = f"{url.scheme}://{url.host}{port}"
    return f"{origin}/***" if redact(origin) == origin else "***"


def _expected(status: int, expect: list[int | str] | None) -> bool:
    if expect is None:
        return 200 <= status < 300
    return status in expect or f"{status // 100}xx" in expect


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _EXCERPT else text[:_EXCERPT] + "…"


def _unexpected(resp: Any, what: str, inputs: HttpInput) -> ApiError:
    """The error for an answer the step does not accept."""
    from runner.apis.responses import retry_after

    status = resp.status_code
    reason = f" {resp.reason_phrase}" if resp.reason_phrase else ""
    message = f"{what} answered HTTP {status}{reason}"
    if status // 100 == 3:
        location = resp.headers.get("location")
        message += f" (a redirect{' to ' + _shown(resp.url.join(location)) if location else ''})"
    excerpt = _excerpt(resp.text) if inputs.method != "HEAD" else ""
    if excerpt:
        message += f": {excerpt}"
    accepts = ", ".join(map(str, inputs.expect)) if inputs.expect else "any 2xx"
    if status == 429:
        wait = retry_after(resp)
        if wait is not None:
            message += f" (it asks to wait {wait:g}s)"
        err: ApiError = RateLimited(message, status=status, retryable=True,
                                    hint="the server is throttling: add `retry:` to the step (with a backoff), "
                                         "or send less often")
        err.retry_after = wait  # type: ignore[attr-defined]
        return err
    if status >= 500:
        safe = inputs.method in _SAFE_METHODS or inputs.idempotent
        hint = ("the server failed: add `retry:` to the step to try again" if safe else
                f"a {inputs.method} answered {status} may or may not have taken effect, so `retry:` does not "
                "send it again; set `idempotent: true` if it is safe to repeat")
        return TransientApiError(message, status=status, retryable=safe, hint=hint)
    handles = f"list it in `expect:` (e.g. expect: [2xx, {status}]) and read `output.status`"
    if status // 100 == 3:
        hint = f"set `follow_redirects: true`; or, if the playbook handles this answer, {handles}"
    else:
        hint = f"the step accepts {accepts}; if this answer is one the playbook handles, {handles}"
    return ApiError(message, status=status, retryable=False, hint=hint)


def _no_answer(exc: Exception, what: str, inputs: HttpInput, httpx: Any) -> StepError:
    """The error for a request that got no answer (or no acceptable one: too many redirects)."""
    name = type(exc).__name__
    safe = inputs.method in _SAFE_METHODS or inputs.idempotent
    if isinstance(exc, httpx.TooManyRedirects):
        return ApiError(f"{what}: too many redirects", code=name, hint="check the URL; the server redirects in a loop")
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
        return ActionInputError(f"{what}: {exc}", hint="give an http:// or https:// URL")
    if "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return ApiError(f"{what}: the server's TLS certificate is not trusted ({_excerpt(str(exc))})", code=name,
                        hint="if the server uses a private CA, give its certificate with `ca_bundle:`")
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):  # never sent: safe to try again
        return TransientApiError(f"{what}: cannot connect ({name}: {_excerpt(str(exc))})", code=name,
                                 retryable=True, hint="check the URL and the network (proxy, firewall); "
                                                      "add `retry:` to the step to try again")
    if isinstance(exc, httpx.TimeoutException):
        return TransientApiError(f"{what}: no answer within {inputs.timeout:g}s ({name})", code=name,
                                 retryable=safe, hint="raise the step's `timeout`, or add `retry:`" if safe else
                                 "the request may have taken effect: look before sending it again "
                                 "(`idempotent: true` lets `retry:` repeat it)")
    return TransientApiError(f"{what}: no answer ({name}: {_excerpt(str(exc))})", code=name, retryable=safe,
                             hint="add `retry:` to the step to try again" if safe else
                             "the request may have taken effect: look before sending it again")
