"""API-key authentication, and the rule that keeps a server without a key off the network.

With a key set, every request but `GET /_threadloom/health` (a load balancer's probe) needs it:
`/v1`, the rest of `/_threadloom` (fault injection, stats reset), `/openapi.json`, `/docs`, `/redoc`.
The key is read from `Authorization: Bearer <key>` or Azure's `api-key: <key>`.

Without a key the server only binds loopback addresses, unless `insecure_no_auth` says otherwise
(`--insecure-no-auth`), which is logged as a warning at start-up.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging

from starlette.types import ASGIApp, Receive, Scope, Send

from threadloom.threads_server.errors import APIError
from threadloom.threads_server.http_layer import send_envelope

log = logging.getLogger("threads_server")
OPEN_PATHS = frozenset({"/_threadloom/health"})


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback addresses (127.0.0.0/8, ::1); False for any other host."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:  # a host name other than localhost: it may resolve anywhere
        return False


def exposure_problem(host: str, has_key: bool, insecure_no_auth: bool) -> str | None:
    """Why a server on `host` must not start, or None when it may."""
    if has_key or insecure_no_auth or is_loopback(host):
        return None
    return (
        f"refusing to serve on {host} without an API key: anyone who can reach it could read and write "
        "every thread. Set THREADLOOM_SERVER_API_KEY (or --api-key), bind 127.0.0.1, or pass "
        "--insecure-no-auth (THREADLOOM_SERVER_INSECURE_NO_AUTH=true) to serve without authentication."
    )


def warn_if_unauthenticated(host: str, has_key: bool) -> None:
    """Log the loud warning of a server reachable from the network without a key."""
    if not has_key and not is_loopback(host):
        log.warning(
            "serving on %s WITHOUT AUTHENTICATION (--insecure-no-auth): anyone who can reach this "
            "port can read, change and delete every thread",
            host,
        )


class AuthMiddleware:
    """401 in the envelope for a request without the configured key (all paths but `OPEN_PATHS`)."""

    def __init__(self, app: ASGIApp, api_key: str | None) -> None:
        self.app = app
        self.api_key = api_key.encode() if api_key is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if self.api_key is None or scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        authorization = api_key = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value
            elif name == b"api-key":
                api_key = value
        given = authorization[7:].strip() if authorization[:7].lower() == b"bearer " else b""
        given = given or api_key.strip()
        if given and hmac.compare_digest(given, self.api_key):
            await self.app(scope, receive, send)
            return
        message = (
            "Incorrect API key provided."
            if given
            else "You didn't provide an API key. Provide it as 'Authorization: Bearer <key>'."
        )
        error = APIError(
            message,
            status=401,
            code="invalid_api_key",
            headers={"www-authenticate": "Bearer"},
        )
        await send_envelope(send, error)
