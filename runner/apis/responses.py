"""What an API answer that is not a success means: the error to raise (:func:`api_error`), how
long a 429 asks to wait (:func:`retry_after`), whether it names a quota reset rather than a call
count (:func:`quota_reset`), and whether a failed request may have taken effect
(:func:`outcome_unknown`).

An error body is read by the API's own ``ApiSpec.error_body`` when it registered one, else by the
common reader (:func:`read_error`): ``{"error": {"code", "message", "target"}}`` (OData, Microsoft
REST APIs), ``{"error": "...", "error_description": "..."}`` (OAuth-style gateways) or
``{"code", "message"}``."""

from __future__ import annotations

import datetime as dt
import email.utils
import re
import time
from typing import TYPE_CHECKING, Any, Callable

import httpx

from runner.errors import ApiError, AuthError, Location, PermissionMissing, RateLimited, TransientApiError

if TYPE_CHECKING:  # pragma: no cover
    from runner.apis.spec import ApiSpec, ErrorBody, QuotaReset

ErrorReader = Callable[[Any], "ErrorBody"]

_ROLES_RE = re.compile(r"required roles?:\s*(.+?)(?:\.?\s*$|\.\s)", re.IGNORECASE)


def _error_body(response: httpx.Response, reader: ErrorReader | None = None) -> tuple[str | None, str, str | None]:
    """(code, message, tracking id) of an error answer: by ``reader`` (an API's
    ``ApiSpec.error_body``) when given, else by :func:`read_error`."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if reader is not None:
        try:
            said = reader(body)
        except Exception:  # noqa: BLE001 - a plugin's reader must not hide the API's answer
            said = None
        if said is not None and (said.code or said.message):
            return (str(said.code) if said.code is not None else None), str(said.message or ""), None
        return None, response.text[:300].strip(), None
    if body is None:
        return None, response.text[:300].strip(), None
    return read_error(body, response.text)


def read_error(body: Any, text: str = "") -> tuple[str | None, str, str | None]:
    """The common error-body reader: (code, message, tracking id) from decoded JSON ``body``;
    ``text`` (the raw answer, first 300 characters) when the body says nothing readable."""
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        return err.get("code"), str(err.get("message") or ""), err.get("target")
    if isinstance(err, str):  # some gateways: {"error": "...", "error_description": "..."}
        return err, str(body.get("error_description") or body.get("message") or ""), None
    if isinstance(body, dict) and body.get("message"):
        return body.get("code"), str(body["message"]), None
    return None, text[:300].strip(), None


def api_error(response: httpx.Response, *, tenant: str | None, api: str, consent_url: str | None = None,
              idempotent: bool = True, spec: "ApiSpec | None" = None) -> ApiError | AuthError:
    """The error to raise for an API answer that is not a success. ``spec``: the API's
    registration (its title, error-body reader and how it authenticates)."""
    status = response.status_code
    reader = spec.error_body if spec is not None else None
    code, message, target = _error_body(response, reader)
    request = response.request
    what = f"{request.method} {request.url.path}"
    title = spec.title if spec is not None else api
    secret = spec is not None and spec.auth is not None and not _is_entra(spec)
    where = Location(tenant=tenant)
    said = f"{code}: {message}" if code and message else (message or code or f"HTTP {status}")
    track = f" (tracking id {target})" if target else ""
    consent = f"; an admin of the tenant must consent again: {consent_url}" if consent_url else ""
    if status == 401 and secret:
        return AuthError(f"{title} rejected the credentials for {what}: {said}{track}", where=where,
                         hint=f"check the secret that `credentials.{api}` (or `tenants.{tenant}.credentials.{api}`) "
                              "in soar.yaml points to; `soar tenants check` tells which reference is used")
    if status == 401:
        return AuthError(f"{title} rejected the token for {what} even after a refresh: {said}{track}",
                         where=where, hint="check that the app is consented in this tenant and the resource "
                                           f"(`app.resources.{api}`) is right; `soar tenants check` tells more")
    if status == 403 and not secret and (code in (None, "Forbidden", "Unauthorized") or "role" in message.lower()):
        m = _ROLES_RE.search(message)
        roles = m.group(1).strip().rstrip(".") if m else None
        need = f"the application role {roles}" if roles else "an application role it did not name"
        err = PermissionMissing(f"{title} refused {what}: the app lacks {need} ({said}){track}", where=where,
                                hint=f"add the {title} application permission {roles or '(see the message)'} "
                                     f"to the app registration{consent or ', then have an admin consent again'}")
        return err
    if status == 404:
        return ApiError(f"not found: {what} on {title} ({said}){track}", status=404, code=code or "NotFound",
                        where=where, hint="check the id; it may belong to another tenant or be gone")
    if status == 429:
        # the step's `retry:` waits at least this long (runner.engine.steps.retry_delay)
        err = _rate_limited(response, title, what, said, code, where, spec)
        err.retry_after = retry_after(response, reader=reader)
        return err
    if status >= 500:
        return TransientApiError(
            f"{title} failed {what} with HTTP {status} ({said}){track}", status=status, code=code, where=where,
            retryable=idempotent,
            hint="the service had a problem; it was retried" if idempotent
            else "this request is not safe to repeat blindly: check whether it took effect before retrying")
    hint = "check the step's inputs against the API's rules (body parameter names are case-sensitive)"
    if status == 403:
        hint = (f"the credentials of `credentials.{api}` may lack the right for this operation" if secret else
                f"the feature is disabled or the operation not allowed in this tenant ({title} settings)")
    return ApiError(f"{title} rejected {what} with HTTP {status}: {said}{track}", status=status, code=code,
                    where=where, hint=hint)


def outcome_unknown(err: BaseException) -> bool:
    """True when a non-idempotent request may or may not have taken effect (timeout, 5xx)."""
    return isinstance(err, TransientApiError) and not err.retryable


def _is_entra(spec: "ApiSpec") -> bool:
    from runner.apis.spec import EntraResource

    return isinstance(spec.auth, EntraResource)


def quota_reset(response: httpx.Response, spec: "ApiSpec | None") -> "QuotaReset | None":
    """The resource quota a 429 of ``spec``'s API says is used up (:class:`QuotaReset`, which
    the API registers), or ``None`` for any other answer: a call-count 429 among them."""
    found = spec.quota_reset if spec is not None else None
    if found is None or response.status_code != 429:
        return None
    _code, message, _t = _error_body(response, spec.error_body)
    return found if re.search(found.pattern, message or "", re.IGNORECASE) else None


def _rate_limited(response: httpx.Response, title: str, what: str, said: str, code: str | None,
                  where: Location | None, spec: "ApiSpec | None" = None) -> RateLimited:
    """The error for a 429 the client's own retries did not get past."""
    reader = spec.error_body if spec is not None else None
    quota = quota_reset(response, spec)
    if quota is not None:
        wait = retry_after(response, reader=reader)
        when = (f"in {round(wait / 60)} minutes" if wait is not None and wait >= 90 else
                f"in {round(wait)} seconds" if wait is not None else "at the time the answer names")
        return RateLimited(f"{title} refused {what}: {quota.what} is used up ({said})",
                           status=429, code=code or "TooManyRequests", retryable=True, where=where,
                           hint=f"the quota resets {when}" + (f"; {quota.hint}" if quota.hint else ""))
    return RateLimited(f"{title} is still throttling {what} after retries ({said})", status=429,
                       code=code or "TooManyRequests", retryable=True, where=where,
                       hint="lower the step's concurrency or the `quotas:` in soar.yaml, or retry later")


def retry_after(response: httpx.Response, now: float | None = None, *,
                reader: ErrorReader | None = None) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or HTTP date) or a body that states it
    ("... try again in 23 seconds", or a reset timestamp); ``None`` when neither says."""
    value = response.headers.get("retry-after")
    if value:
        value = value.strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value).timestamp()
                return max(0.0, when - (now if now is not None else time.time()))
            except (TypeError, ValueError):
                pass
    _code, message, _t = _error_body(response, reader)
    message = message or ""
    # Most explicit first: "try again in N seconds", then a reset timestamp, then "in N seconds".
    # A bare number is never taken: "Maximum allowed 50 per 60 s" names the window, not the wait.
    m = _AFTER.search(message)
    if m:
        return _seconds(m)
    m = re.search(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?)", message)
    if m:
        stamp = dt.datetime.fromisoformat(m.group(1).replace("Z", "+00:00"))
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=dt.timezone.utc)
        return max(0.0, stamp.timestamp() - (now if now is not None else time.time()))
    m = _IN.search(message)
    return _seconds(m) if m else None


_UNIT = r"(\d+(?:\.\d+)?)\s*(seconds?|secs?|s\b|minutes?|mins?)"
_AFTER = re.compile(r"(?:try again|retry)\s+(?:in|after)\s+" + _UNIT, re.IGNORECASE)
_IN = re.compile(r"\b(?:in|after)\s+" + _UNIT, re.IGNORECASE)


def _seconds(m: re.Match) -> float:
    n = float(m.group(1))
    return n * 60 if m.group(2).lower().startswith("m") else n

