"""`threadloom codec-server`: Temporal's remote codec protocol over the key ring, for the UI and CLI.

The Temporal UI and `temporal` CLI never hold keys; they POST a `Payloads` message (protobuf JSON) to
`…/decode` (or `…/encode`) and show what comes back. Only the last path segment picks the operation,
so the endpoint may sit under a prefix, and that is how the UI passes the token: the dev server's UI
is given `http://127.0.0.1:8234/<token>` as its codec endpoint, the CLI sends
`--codec-auth "Bearer <token>"`. Without the token nothing is decrypted (401), so the server is no
open decryption oracle for whatever else can reach the port, and browsers may call it only from the
UI's origins (CORS). It binds loopback unless told otherwise, and refuses another address unless
`THREADLOOM_CODEC_TOKEN` names the token (a random one is made for each start otherwise).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import ipaddress
import secrets
import signal
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import uvicorn
from google.protobuf import json_format
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from temporalio.api.common.v1 import Payloads

from threadloom.starter.encryption import (
    EncryptionCodec,
    EncryptionKeyError,
    KeyRing,
    encryption_on,
    ensure_key_file,
    key_ring,
    new_key_entry,
)
from threadloom.starter.settings import Settings

MAX_BODY_BYTES = 16 * 1024 * 1024
"""A history page of large payloads fits; anything bigger is refused before it is parsed."""


class CodecServerError(RuntimeError):
    """The codec server cannot start as configured; the message says which setting to change."""


@dataclass(frozen=True)
class CodecEndpoint:
    """Where a running codec server answers, and how a client authenticates."""

    url: str
    token: str

    @property
    def ui_endpoint(self) -> str:
        """The codec endpoint to give the Temporal UI: the token is its path prefix."""
        return f"{self.url}/{self.token}"


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback addresses."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cors_origins(settings: Settings) -> list[str]:
    """The browser origins that may call the codec server (default: the dev server's UI)."""
    if settings.codec_cors_origins:
        return [o.strip().rstrip("/") for o in settings.codec_cors_origins.split(",") if o.strip()]
    return [f"http://localhost:{settings.ui_port}", f"http://127.0.0.1:{settings.ui_port}"]


def codec_token(settings: Settings, host: str) -> str:
    """The configured token, or a new random one on loopback.

    Raises:
        CodecServerError: `host` is not loopback and no `THREADLOOM_CODEC_TOKEN` is set.
    """
    if settings.codec_token is not None and settings.codec_token.get_secret_value():
        return settings.codec_token.get_secret_value()
    if not is_loopback(host):
        raise CodecServerError(
            f"the codec server decrypts for whoever calls it: to bind {host} (not loopback), "
            "set THREADLOOM_CODEC_TOKEN to a long random token and give it to the UI and CLI"
        )
    return secrets.token_urlsafe(24)


def create_codec_app(ring: KeyRing, *, token: str, origins: list[str]) -> Starlette:
    """The ASGI app: `POST …/encode` and `POST …/decode` with the token, CORS for `origins`."""
    codec = EncryptionCodec(ring, allow_plaintext=True)  # it shows histories, old ones included

    async def apply(request: Request) -> Response:
        segments = [s for s in request.url.path.split("/") if s]
        operation = segments[-1] if segments else ""
        if operation not in ("encode", "decode"):
            return JSONResponse({"error": "POST …/encode or …/decode"}, status_code=404)
        if not _authorized(request, segments[:-1], token):
            return JSONResponse({"error": "the codec server's token is missing or wrong"}, 401)
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return JSONResponse({"error": f"body over {MAX_BODY_BYTES} bytes"}, status_code=413)
        try:
            payloads = json_format.Parse(body or b"{}", Payloads())
        except json_format.ParseError as error:
            return JSONResponse({"error": f"not a Payloads message: {error}"}, status_code=400)
        try:
            if operation == "encode":
                result = await codec.encode(payloads.payloads)
            else:
                result = await codec.decode(payloads.payloads)
        except EncryptionKeyError as error:
            return JSONResponse({"error": str(error)}, status_code=422)
        content = json_format.MessageToJson(Payloads(payloads=result))
        return Response(content, media_type="application/json")

    middleware = [
        Middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["POST"],
            allow_headers=["*"],
            allow_credentials=True,
        )
    ]
    return Starlette(routes=[Route("/{path:path}", apply, methods=["POST"])], middleware=middleware)


def _authorized(request: Request, prefix: list[str], token: str) -> bool:
    """The bearer header or a path segment is the token (compared as bytes, in constant time)."""
    expected = token.encode()
    header = request.headers.get("authorization", "")
    scheme, _, credential = header.partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(credential.strip().encode(), expected):
        return True
    return any(hmac.compare_digest(segment.encode(), expected) for segment in prefix)


@contextlib.asynccontextmanager
async def running_codec_server(
    settings: Settings, ring: KeyRing, *, host: str | None = None, port: int | None = None
) -> AsyncIterator[CodecEndpoint]:
    """Serve the codec in this event loop (uvicorn); yields its address and token."""
    host = host or settings.codec_host
    port = settings.codec_port if port is None else port
    token = codec_token(settings, host)
    app = create_codec_app(ring, token=token, origins=cors_origins(settings))
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise CodecServerError(f"the codec server did not start on {host}:{port}")
        await asyncio.sleep(0.02)
    shown = f"[{host}]" if ":" in host else host
    try:
        yield CodecEndpoint(f"http://{shown}:{port}", token)
    finally:
        server.should_exit = True
        await task


def usage_lines(endpoint: CodecEndpoint) -> list[str]:
    """How the UI and the CLI reach the codec server (the lines `codec-server` and `dev` print)."""
    return [
        f"  Temporal UI codec endpoint: {endpoint.ui_endpoint}",
        f"  temporal CLI: --codec-endpoint {endpoint.url} --codec-auth 'Bearer {endpoint.token}'",
    ]


async def codec_server_command(args: argparse.Namespace, settings: Settings) -> int:
    """`threadloom codec-server`: serve until Ctrl-C; `--new-key ID` prints a new ring entry."""
    if args.new_key:
        print(new_key_entry(args.new_key))
        return 0
    try:
        ring = key_ring(settings)
        if ring is None:
            raise CodecServerError(
                "the codec server needs the key ring: set THREADLOOM_ENCRYPTION_KEYS "
                "(or THREADLOOM_ENCRYPTION=true beside a `threadloom dev` home)"
            )
        async with running_codec_server(settings, ring, host=args.host, port=args.port) as endpoint:
            origins = ", ".join(cors_origins(settings))
            print(f"codec server at {endpoint.url} (keys {', '.join(ring.ids)}; CORS for {origins})")
            for line in usage_lines(endpoint):
                print(line, flush=True)
            await _until_signal()
    except (CodecServerError, EncryptionKeyError) as error:
        print(f"threadloom codec-server: {error}", file=sys.stderr)
        return 2
    return 0


async def _until_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def start_for_dev_stack(
    settings: Settings,
    stack: contextlib.AsyncExitStack,
    say: Callable[[str], None],
    *,
    with_codec_server: bool,
) -> CodecEndpoint | None:
    """With encryption on: the key ring (created under `home` if the settings ask for it), and a
    codec server for the dev server's UI when the dev server starts here. Fails before anything
    starts if the ring is bad."""
    from threadloom.starter.devstack import require_free

    if not encryption_on(settings):
        return None
    created = ensure_key_file(settings)
    ring = key_ring(settings)
    assert ring is not None
    source = f"key ring {created}" if created else "THREADLOOM_ENCRYPTION_KEYS"
    say(f"encryption on: payloads encrypted with key {ring.encrypting_id!r} ({source})")
    if not with_codec_server:
        return None
    require_free(settings.codec_host, settings.codec_port, "the codec server", settings)
    codec = await stack.enter_async_context(running_codec_server(settings, ring))
    say(f"  codec server at {codec.url}")
    for line in usage_lines(codec):
        say(line)
    return codec
