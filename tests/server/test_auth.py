"""Authentication (issue 10, 5) and secure-by-default start-up (issue 12)."""

from __future__ import annotations

import asyncio
import sys
import time

import httpx
import pytest
from pydantic import ValidationError

from tests.ports import free_port
from threadloom.threads_server.auth import is_loopback
from threadloom.threads_server.cli import serve_main
from threadloom.threads_server.settings import ServerSettings
from threadloom.threads_server.testing import app_client

KEY = {"Authorization": "Bearer sekret"}


async def test_faults_are_consumed_only_by_authenticated_requests(db) -> None:
    async with app_client(db, api_key="sekret", faults_enabled=True) as (client, _app):
        faults = "http://test/_threadloom/faults"
        refused = await client.post(faults, json={"path": "/v1/threads", "action": "500"})
        assert refused.status_code == 401
        assert (await client.get(faults, headers=KEY)).json()["faults"] == []
        queued = await client.post(faults, json={"path": "/v1/threads", "action": "500"}, headers=KEY)
        assert queued.status_code == 200
        for _ in range(3):  # strangers are turned away without touching the fault
            assert (await client.post("/threads")).status_code == 401
        assert len((await client.get(faults, headers=KEY)).json()["faults"]) == 1
        injected = await client.post("/threads", headers=KEY)
        assert injected.status_code == 500 and "injected" in injected.json()["error"]["message"]
        assert (await client.post("/threads", headers=KEY)).status_code == 200
        # Resetting the counters needs the key too.
        assert (await client.post("http://test/_threadloom/stats/reset")).status_code == 401


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.1.2.3", False),
        ("threads-server", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_an_empty_key_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="set but empty"):
        ServerSettings(api_key="  ")
    monkeypatch.setenv("THREADLOOM_SERVER_API_KEY", "")
    with pytest.raises(ValidationError, match="set but empty"):
        ServerSettings()


def test_no_key_off_loopback_is_refused_unless_insecure_is_explicit() -> None:
    with pytest.raises(ValidationError, match=r"refusing to serve on 0\.0\.0\.0 without an API key"):
        ServerSettings(host="0.0.0.0")
    assert ServerSettings(host="0.0.0.0", api_key="k").api_key is not None
    assert ServerSettings(host="0.0.0.0", insecure_no_auth=True).insecure_no_auth


def test_serve_prints_one_line_for_bad_settings(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    db = str(tmp_path / "t.db")
    assert serve_main(["--host", "0.0.0.0", "--db", db]) == 2
    assert serve_main(["--api-key", "", "--db", db]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2, lines
    assert "refusing to serve on 0.0.0.0" in lines[0] and "--insecure-no-auth" in lines[0]
    assert "set but empty" in lines[1]


async def _serve(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "threadloom.threads_server",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_the_command_refuses_a_public_bind_without_a_key(tmp_path) -> None:
    process = await _serve(
        "--host", "0.0.0.0", "--port", str(free_port()), "--db", str(tmp_path / "a.db")
    )
    _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    text = err.decode()
    assert "Traceback" not in text and len(text.strip().splitlines()) == 1, text


async def test_insecure_no_auth_serves_and_warns(tmp_path) -> None:
    port = free_port()
    process = await _serve(
        "--host", "0.0.0.0", "--port", str(port), "--db", str(tmp_path / "b.db"), "--insecure-no-auth"
    )
    try:
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient() as http:
            while True:
                assert process.returncode is None, "the server exited"
                try:
                    health = await http.get(f"http://127.0.0.1:{port}/_threadloom/health")
                    if health.status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the server did not start in 30 s"
                await asyncio.sleep(0.1)
            assert (await http.post(f"http://127.0.0.1:{port}/v1/threads")).status_code == 200
    finally:
        process.terminate()
        _, err = await asyncio.wait_for(process.communicate(), 30)
    assert "WITHOUT AUTHENTICATION" in err.decode()
