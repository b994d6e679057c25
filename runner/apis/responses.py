"""What an API answer that is not a success means: the error to raise (:func:`api_error`), how
long a 429 asks to wait (:func:`retry_after`), whether it is the hunting CPU quota
(:func:`cpu_quota`), and whether a failed request may have taken effect (:func:`outcome_unknown`)."""

from __future__ import annotations

import datetime as dt
import email.utils
import re
import time

import httpx

from runner.auth import clouds
from runner.errors import ApiError, AuthError, Location, PermissionMissing, RateLimited, TransientApiError

_ROLES_RE = re.compile(r"required roles?:\s*(.+?)(?:\.?\s*$|\.\s)", re.IGNORECASE)


def _error_body(response: httpx.Response) -> tuple[str | None, str, str | None]:
    try:
        body = response.json()
    except ValueError:
        return None, response.text[:300].strip(), None
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        return err.get("code"), str(err.get("message") or ""), err.get("target")
    if isinstance(err, str):  # some gateways: {"error": "...", "error_description": "..."}
        return err, str(body.get("error_description") or body.get("message") or ""), None
    if isinstance(body, dict) and body.get("message"):
        return body.get("code"), str(body["message"]), None
    return None, response.text[:300].strip(), None


def api_error(response: httpx.Response, *, tenant: str | None, api: str, consent_url: str | None = None,
              idempotent: bool = True) -> ApiError | AuthError:
    """The error to raise for an API answer that is not a success."""
    status = response.status_code
    code, message, target = _error_body(response)
    request = response.request
    what = f"{request.method} {request.url.path}"
    title = clouds.API_TITLES.get(api, api)
    where = Location(tenant=tenant)
    said = f"{code}: {message}" if code and message else (message or code or f"HTTP {status}")
    track = f" (tracking id {target})" if target else ""
    consent = f"; an admin of the tenant must consent again: {consent_url}" if consent_url else ""
    if status == 401:
        return AuthError(f"{title} rejected the token for {what} even after a refresh: {said}{track}",
                         where=where, hint="check that the app is consented in this tenant and the resource "
                                           f"(`app.resources.{api}`) is right; `soar tenants check` tells more")
    if status == 403 and (code in (None, "Forbidden", "Unauthorized") or "role" in message.lower()):
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
        err = _rate_limited(response, title, what, said, code, where)
        err.retry_after = retry_after(response)
        return err
    if status >= 500:
        return TransientApiError(
            f"{title} failed {what} with HTTP {status} ({said}){track}", status=status, code=code, where=where,
            retryable=idempotent,
            hint="the service had a problem; it was retried" if idempotent
            else "this request is not safe to repeat blindly: check whether it took effect before retrying")
    hint = "check the step's inputs against the API's rules (body parameter names are case-sensitive)"
    if status == 403:
        hint = "the feature is disabled or the operation not allowed in this tenant (Defender settings)"
    return ApiError(f"{title} rejected {what} with HTTP {status}: {said}{track}", status=status, code=code,
                    where=where, hint=hint)


def outcome_unknown(err: BaseException) -> bool:
    """True when a non-idempotent request may or may not have taken effect (timeout, 5xx)."""
    return isinstance(err, TransientApiError) and not err.retryable


def cpu_quota(response: httpx.Response) -> bool:
    """A hunting 429 that speaks of the CPU quota (not the call count): it names its reset."""
    _code, message, _t = _error_body(response)
    return response.status_code == 429 and re.search(r"\bCPU\b", message or "", re.IGNORECASE) is not None


def _rate_limited(response: httpx.Response, title: str, what: str, said: str, code: str | None,
                  where: Location | None) -> RateLimited:
    """The error for a 429 the client's own retries did not get past."""
    if cpu_quota(response):
        return RateLimited(f"{title} refused {what}: the tenant's advanced-hunting CPU quota is used up ({said})",
                           status=429, code=code or "TooManyRequests", retryable=True, where=where,
                           hint="the CPU quota resets every 15 minutes; run the query later, or make it cheaper "
                                "(filter on Timestamp first, project fewer columns, summarize)")
    return RateLimited(f"{title} is still throttling {what} after retries ({said})", status=429,
                       code=code or "TooManyRequests", retryable=True, where=where,
                       hint="lower the step's concurrency or the `quotas:` in soar.yaml, or retry later")


def retry_after(response: httpx.Response, now: float | None = None) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or HTTP date) or an XDR-style body
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
    _code, message, _t = _error_body(response)
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

