"""`threadloom codec-server` over a real socket: Temporal's codec protocol, the token, CORS.

The checks are what the Temporal UI and CLI meet: a `Payloads` JSON posted to `…/decode` comes back
decrypted with the token (as a path prefix, as the UI sends it, or as a bearer header, as the CLI
does), and is refused without it; browsers get CORS headers only from the UI's origin.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from tests.ports import free_port
from threadloom.starter.codec_server import (
    CodecEndpoint,
    CodecServerError,
    codec_token,
    running_codec_server,
)
from threadloom.starter.encryption import EncryptionCodec, KeyRing, new_key_entry
from threadloom.starter.settings import Settings

RING = KeyRing.parse(f"{new_key_entry('k2')},{new_key_entry('k1')}")
UI = "http://localhost:8233"
PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=b'"the code is 4711"')


@pytest.fixture
async def codec() -> AsyncIterator[CodecEndpoint]:
    settings = Settings(ui_port=8233)
    async with running_codec_server(settings, RING, port=free_port()) as endpoint:
        yield endpoint


def _body(*payloads: Payload) -> str:
    return json_format.MessageToJson(Payloads(payloads=payloads))


def _payloads(response: httpx.Response) -> list[Payload]:
    return list(json_format.Parse(response.text, Payloads()).payloads)


async def test_decode_with_the_token_as_the_ui_and_the_cli_send_it(codec: CodecEndpoint) -> None:
    [sealed] = await EncryptionCodec(RING).encode([PLAIN])
    async with httpx.AsyncClient() as http:
        as_ui = await http.post(
            f"{codec.ui_endpoint}/decode",
            content=_body(sealed),
            headers={"content-type": "application/json", "x-namespace": "default", "origin": UI},
        )
        as_cli = await http.post(
            f"{codec.url}/decode",
            content=_body(sealed),
            headers={"content-type": "application/json", "authorization": f"Bearer {codec.token}"},
        )
    assert as_ui.status_code == 200, as_ui.text
    assert _payloads(as_ui) == [PLAIN]
    assert as_ui.headers["access-control-allow-origin"] == UI
    assert as_cli.status_code == 200 and _payloads(as_cli) == [PLAIN]


async def test_encode_then_decode(codec: CodecEndpoint) -> None:
    async with httpx.AsyncClient(headers={"authorization": f"Bearer {codec.token}"}) as http:
        encoded = await http.post(f"{codec.url}/encode", content=_body(PLAIN))
        [sealed] = _payloads(encoded)
        assert sealed.metadata["encryption-key-id"] == b"k2" and b"4711" not in sealed.data
        decoded = await http.post(f"{codec.url}/decode", content=encoded.text)
    assert _payloads(decoded) == [PLAIN]


async def test_no_decryption_without_the_token(codec: CodecEndpoint) -> None:
    [sealed] = await EncryptionCodec(RING).encode([PLAIN])
    async with httpx.AsyncClient() as http:
        for url, headers in [
            (f"{codec.url}/decode", {}),
            (f"{codec.url}/decode", {"authorization": "Bearer not-the-token"}),
            (f"{codec.url}/not-the-token/decode", {}),
            (
                f"{codec.url}/%C3%A9t%C3%A9/decode",
                {"authorization": "Bearer \u00e9t\u00e9".encode("latin-1")},
            ),
            (f"{codec.url}/encode", {}),
        ]:
            response = await http.post(url, content=_body(sealed), headers=headers)
            assert response.status_code == 401, (url, response.text)
            assert "4711" not in response.text


async def test_unknown_key_is_named_and_bad_bodies_refused(codec: CodecEndpoint) -> None:
    [foreign] = await EncryptionCodec(KeyRing.parse(new_key_entry("k9"))).encode([PLAIN])
    async with httpx.AsyncClient(headers={"authorization": f"Bearer {codec.token}"}) as http:
        unknown = await http.post(f"{codec.url}/decode", content=_body(foreign))
        garbage = await http.post(f"{codec.url}/decode", content="{not json")
    assert unknown.status_code == 422 and "key 'k9'" in unknown.json()["error"]
    assert garbage.status_code == 400


async def test_cors_only_for_the_ui_origin(codec: CodecEndpoint) -> None:
    preflight = {
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type,x-namespace",
    }
    async with httpx.AsyncClient() as http:
        allowed = await http.options(f"{codec.ui_endpoint}/decode", headers={"origin": UI, **preflight})
        other = await http.options(
            f"{codec.ui_endpoint}/decode", headers={"origin": "http://evil.example", **preflight}
        )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == UI
    assert "x-namespace" in allowed.headers["access-control-allow-headers"]
    assert "access-control-allow-origin" not in other.headers


def test_non_loopback_needs_a_configured_token() -> None:
    with pytest.raises(CodecServerError, match="set THREADLOOM_CODEC_TOKEN"):
        codec_token(Settings(), "0.0.0.0")
    assert codec_token(Settings(codec_token="s3cret-token"), "0.0.0.0") == "s3cret-token"
    assert codec_token(Settings(), "127.0.0.1") != codec_token(Settings(), "127.0.0.1")
