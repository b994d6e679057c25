"""CSRF checks of the console: the token an unsafe request carries, and where it came from.

A token travels in the ``X-CSRF-Token`` header (htmx, scripts) or the ``csrf_token`` field of a
form (``application/x-www-form-urlencoded`` or ``multipart/form-data``). To read the field the
body is read here (up to the serve body limit) and handed on unchanged to the console's
handler, which reads it again.
"""

from __future__ import annotations

import hmac
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request
from starlette.responses import Response

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
REFUSED = "missing or wrong CSRF token; reload the page and try again"


def form_token(content_type: str | None, body: bytes) -> str | None:
    """The ``csrf_token`` field of a form body, or None."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        for name, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
            if name == "csrf_token":
                return value
    elif kind == "multipart/form-data":
        message = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + (content_type or "").encode("latin-1", "replace") + b"\r\n\r\n" + body)
        if message.is_multipart():
            for part in message.iter_parts():
                if part.get_param("name", header="content-disposition") == "csrf_token":
                    payload = part.get_payload(decode=True)
                    return payload.decode("utf-8", "replace").strip() if isinstance(payload, bytes) else None
    return None


def cross_origin(request: Request) -> bool:
    """Whether a browser says the request comes from another origin (``Sec-Fetch-Site``,
    ``Origin``; a request that says nothing is not called cross-origin here)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return True
    origin = request.headers.get("origin")
    if origin is None:
        return False
    if origin == "null":
        return True
    parts = urlsplit(origin)
    return parts.netloc.lower() != request.headers.get("host", "").lower() or parts.scheme != request.url.scheme


async def read_body(request: Request, limit: int) -> bytes | None:
    """The whole body (None when larger than ``limit`` bytes)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def replay(body: bytes, receive: Any) -> Any:
    """A ``receive`` that gives ``body`` once, then whatever the connection says next."""
    sent = False

    async def again() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


async def verify(request: Request, receive: Any, expected: str, limit: int) -> tuple[Response | None, Any]:
    """(None, the receive to go on with) when ``request`` carries ``expected``; else (a 403, ...)."""
    from runner.console.identity import refusal

    sent = request.headers.get("x-csrf-token")
    if sent is None and (request.headers.get("content-type") or "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        body = await read_body(request, limit)
        if body is None:
            return refusal(request, 413, f"the body is larger than {limit} bytes"), receive
        receive = replay(body, receive)
        sent = form_token(request.headers.get("content-type"), body)
    if not expected or not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        return refusal(request, 403, REFUSED), receive
    return None, receive
