"""Serving the chat page: `threadloom web`, the same server beside `threadloom dev`'s stack, and the
guard in front of both.

The page can start turns, so it is kept off the network as the threads server is: it binds loopback
unless a key is set (`THREADLOOM_WEB_KEY`), and then every request needs the key, which the browser
hands over once as `/?key=…` (kept in an HttpOnly, SameSite=Strict cookie) or an API client sends as
`Authorization: Bearer …`. On loopback without a key, requests must name a loopback host (a web page
elsewhere cannot reach it through DNS rebinding), and a POST must be JSON (a cross-site form cannot
send one without the CORS preflight this server never grants).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlencode

import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from threadloom.starter.codec_server import is_loopback
from threadloom.starter.settings import Settings
from threadloom.starter.web.app import WebContext, create_web_app

COOKIE = "threadloom_web_key"
SHUTDOWN_SECONDS = 2
"""How long open streams get at shutdown before uvicorn cancels them."""


class WebServerError(RuntimeError):
    """The chat page cannot start as configured; the message says what to change."""


def exposure_problem(host: str, key: str | None) -> str | None:
    """Why the page must not serve on `host`, or None."""
    if key or is_loopback(host):
        return None
    return (
        f"refusing to serve the chat page on {host} without a key: anyone who can reach it could "
        "read every conversation and run turns. Set THREADLOOM_WEB_KEY, or bind 127.0.0.1."
    )


def _host_name(header: str) -> str:
    """The host of a `Host` header, without its port (`[::1]:8701` → `::1`)."""
    if header.startswith("["):
        return header[1:].partition("]")[0]
    return header.rpartition(":")[0] if header.count(":") == 1 else header


class Guard:
    """The key (if any), the loopback `Host` rule (without one), and JSON-only POSTs."""

    def __init__(self, app: ASGIApp, *, key: str | None) -> None:
        self.app = app
        self.key = key.encode() if key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        response = self._refusal(request)
        if response is not None:
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _refusal(self, request: Request) -> Response | None:
        if self.key is None:
            if not is_loopback(_host_name(request.headers.get("host", ""))):
                return PlainTextResponse("the chat page answers loopback host names only", 421)
        else:
            given = request.query_params.get("key")
            if given is not None:
                return self._log_in(request, given)
            if not self._has_key(request):
                return self._unauthorized(request)
        if request.method == "POST":
            media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
            if media != "application/json":
                body = {"error": {"type": "InvalidRequest", "message": "send application/json"}}
                return JSONResponse(body, status_code=415)
        return None

    def _has_key(self, request: Request) -> bool:
        assert self.key is not None
        header = request.headers.get("authorization", "")
        bearer = header[7:].strip() if header[:7].lower() == "bearer " else ""
        given = (bearer or request.cookies.get(COOKIE, "")).encode()
        return bool(given) and hmac.compare_digest(given, self.key)

    def _log_in(self, request: Request, given: str) -> Response:
        """`?key=…`: the right key becomes the cookie, and the same URL without it is reloaded."""
        assert self.key is not None
        if not hmac.compare_digest(given.encode(), self.key):
            return PlainTextResponse("wrong key", status_code=401)
        rest = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "key"])
        target = request.url.path + (f"?{rest}" if rest else "")
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(COOKIE, given, httponly=True, samesite="strict", path="/")
        return response

    @staticmethod
    def _unauthorized(request: Request) -> Response:
        if request.url.path.startswith("/api/"):
            body = {"error": {"type": "Unauthorized", "message": "the chat page's key is missing"}}
            return JSONResponse(body, status_code=401, headers={"www-authenticate": "Bearer"})
        return PlainTextResponse("open this page once as /?key=<THREADLOOM_WEB_KEY>", status_code=401)


def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise WebServerError(
            f"the chat page cannot listen on {host}:{port} ({error.strerror}); "
            "move it with THREADLOOM_WEB_PORT (or --port)"
        ) from None
    sock.listen(128)
    return sock


@contextlib.asynccontextmanager
async def running_web_server(
    context: WebContext, *, host: str = "127.0.0.1", port: int = 0, key: str | None = None
) -> AsyncIterator[str]:
    """Serve the chat page with uvicorn in this event loop (`port=0`: a free one); yields its root URL.

    Raises:
        WebServerError: `host` is not loopback and there is no key, or the port is taken.
    """
    problem = exposure_problem(host, key)
    if problem:
        raise WebServerError(problem)
    sock = _listening_socket(host, port)
    config = uvicorn.Config(
        Guard(create_web_app(context), key=key),
        log_level="warning",
        lifespan="off",
        access_log=False,
        timeout_graceful_shutdown=SHUTDOWN_SECONDS,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise WebServerError(f"the chat page did not start on {host}:{port}")
            await asyncio.sleep(0.02)
        bound = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        yield f"http://{shown}:{bound}"
    finally:
        server.should_exit = True
        await task
        sock.close()


def ui_url_of(settings: Settings) -> str:
    """The Temporal UI the page links to: `THREADLOOM_WEB_UI_URL`, else the dev server's UI."""
    return settings.web_ui_url or f"http://localhost:{settings.ui_port}"


@contextlib.asynccontextmanager
async def serving(settings: Settings, *, ui_url: str | None, host: str, port: int) -> AsyncIterator[str]:
    """Connect to Temporal and the Threads API of `settings` and serve the page; yields the page URL."""
    from threadloom.starter.api import Threadloom
    from threadloom.starter.threads_api import threads_client

    key = settings.web_key.get_secret_value() if settings.web_key else None
    if exposure_problem(host, key):  # before connecting to anything
        raise WebServerError(str(exposure_problem(host, key)))
    loom = await Threadloom.connect(settings)
    async with threads_client(settings) as threads:
        context = WebContext(loom, threads, ui_url, settings.namespace)
        async with running_web_server(context, host=host, port=port, key=key) as root:
            yield f"{root}/chat"


async def start_for_dev_stack(
    settings: Settings,
    stack: contextlib.AsyncExitStack,
    say: Callable[[str], None],
    *,
    ui_url: str | None,
) -> str | None:
    """The chat page beside `threadloom dev`'s stack; a taken port skips it with a note (the page is
    an extra: the stack works without it)."""
    try:
        url = await stack.enter_async_context(
            serving(settings, ui_url=ui_url, host=settings.web_host, port=settings.web_port)
        )
    except WebServerError as error:
        say(f"  chat page not started: {error}")
        return None
    say(f"  chat page at {url}")
    return url


async def web_command(args: argparse.Namespace, settings: Settings) -> int:
    """`threadloom web`: serve the chat page until Ctrl-C or SIGTERM."""
    from threadloom.starter.errors import TurnError

    host = args.host or settings.web_host
    port = settings.web_port if args.port is None else args.port
    ui_url = args.ui_url or ui_url_of(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with serving(settings, ui_url=ui_url, host=host, port=port) as url:
            print(f"chat page at {url} (Temporal at {settings.temporal_address}, ", end="")
            print(f"Threads API at {settings.threads_base_url}); Ctrl-C stops it.", flush=True)
            await stop.wait()
    except (WebServerError, TurnError) as error:
        print(f"threadloom web: {error}", file=sys.stderr)
        return 2
    return 0
