"""Posting a card to a chat webhook (Teams, Slack) and reading its answer: the one place that
decides what an answer means, for the actions (the run's network, ``ctx.http()``) and for the
notifications ``soar serve`` sends (:mod:`soar_notify.notifier`).

Success is a 2xx — Teams Workflows answer 202, Teams' older incoming webhooks and Slack answer
200 — except an older Teams webhook's 200 whose body reports Teams' own HTTP 429. Anything else
raises an error that names the channel and the webhook's host, never its URL (the URL is the
credential).
"""

from __future__ import annotations

from typing import Any

import httpx

from runner.plugin import ActionInputError, ApiError, RateLimited, TransientApiError

from soar_notify.message import clip, host_of, webhook_problem

CHANNELS = {"teams": "Teams", "slack": "Slack"}
_GONE = {403, 404, 410}  # Slack: action_prohibited / no_service / channel_is_archived; Teams: flow removed
_NOT_PROCESSED = {502, 503, 504}  # a gateway's answer: the message was not posted


def check_url(channel: str, url: str) -> None:
    """Refuse a URL that cannot be the channel's webhook (``ActionInputError``)."""
    problem = webhook_problem(url)
    if problem is not None:
        raise ActionInputError(f"the {CHANNELS[channel]} webhook URL cannot be used: {problem}",
                               hint=f"give the {CHANNELS[channel]} webhook's https:// URL (a secret)")


def _what(channel: str, url: str) -> str:
    return f"the {CHANNELS[channel]} webhook on {host_of(url)}"


def _retry_after(headers: Any) -> float | None:
    value = headers.get("retry-after") if headers is not None else None
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None


def answer_error(channel: str, url: str, status: int, body: str, headers: Any = None) -> ApiError | None:
    """The error an answer means, or ``None`` when the message was posted."""
    what = _what(channel, url)
    excerpt = clip(" ".join(body.split()), 200)
    if 200 <= status < 300:
        if channel == "teams" and "HTTP error 429" in body:  # an older webhook's way of throttling
            return RateLimited(f"{what} is throttling: {excerpt}", status=429, retryable=True,
                               hint="send less often, or add `retry:` to the step")
        return None
    said = f": {excerpt}" if excerpt else ""
    message = f"{what} answered HTTP {status}{said}"
    if status == 429:
        err = RateLimited(message, status=status, retryable=True,
                          hint="the channel is throttling: add `retry:` to the step, or send less often")
        err.retry_after = _retry_after(headers)  # type: ignore[attr-defined]
        return err
    if status in _GONE:
        return ApiError(message, status=status, hint=f"the webhook was removed, revoked or its channel archived: "
                                                     f"create a new {CHANNELS[channel]} webhook and update the secret")
    if status in _NOT_PROCESSED:
        return TransientApiError(message, status=status, retryable=True,
                                 hint="the service did not take the message: add `retry:` to the step")
    if status >= 500:
        return TransientApiError(message, status=status, retryable=False,
                                 hint="the service failed; the message may or may not have been posted")
    return ApiError(message, status=status,
                    hint=f"{CHANNELS[channel]} refused the message: check the webhook URL and the message")


def no_answer(channel: str, url: str, exc: Exception, timeout: float) -> TransientApiError:
    """The error for a post that got no answer."""
    what = _what(channel, url)
    name = type(exc).__name__
    if "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return TransientApiError(f"{what}: its TLS certificate is not trusted ({name})", retryable=False,
                                 hint="if the server uses a private CA, give its certificate with `ca_bundle:`")
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):  # never sent: safe to try again
        return TransientApiError(f"{what}: cannot connect ({name})", retryable=True,
                                 hint="check the URL and the network (proxy, firewall); add `retry:` to the step")
    if isinstance(exc, httpx.TimeoutException):
        return TransientApiError(f"{what}: no answer within {timeout:g}s ({name})", retryable=False,
                                 hint="the message may have been posted: look in the channel before sending again")
    return TransientApiError(f"{what}: no answer ({name})", retryable=False,
                             hint="the message may have been posted: look in the channel before sending again")


async def post(client: httpx.AsyncClient, channel: str, url: str, payload: dict, timeout: float) -> int:
    """POST ``payload`` to the webhook; its status, or the error its answer means."""
    check_url(channel, url)
    try:
        resp = await client.post(url, json=payload, timeout=timeout)
    except httpx.HTTPError as exc:
        raise no_answer(channel, url, exc, timeout) from None
    error = answer_error(channel, url, resp.status_code, resp.text, resp.headers)
    if error is not None:
        raise error
    return resp.status_code


def post_sync(client: httpx.Client, channel: str, url: str, payload: dict, timeout: float) -> int:
    """:func:`post` for a synchronous client (the notifier's thread)."""
    check_url(channel, url)
    try:
        resp = client.post(url, json=payload, timeout=timeout)
    except httpx.HTTPError as exc:
        raise no_answer(channel, url, exc, timeout) from None
    error = answer_error(channel, url, resp.status_code, resp.text, resp.headers)
    if error is not None:
        raise error
    return resp.status_code
