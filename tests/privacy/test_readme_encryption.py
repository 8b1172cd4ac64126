"""The README's "Encryption" commands run as written: the key-making block leaves a ring of two keys
(`k2` in front), and the codec-server block serves the codec with the token it exported."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import httpx
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from tests.ports import free_port
from threadloom.starter.encryption import EncryptionCodec, KeyRing

ROOT = Path(__file__).resolve().parent.parent.parent
SECTION = (ROOT / "README.md").read_text().split("## Encryption\n", 1)[1].split("\n## ", 1)[0]
BASH = re.findall(r"^```bash\n(.*?)^```", SECTION, flags=re.M | re.S)
BIN = str(Path(sys.executable).parent)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("THREADLOOM_")}
    return {**env, "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}", **extra}


async def _bash(script: str, env: dict[str, str]) -> str:
    process = await asyncio.create_subprocess_exec(
        "bash", "-euc", script, env=env, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, script
    return out.decode()


async def test_the_key_block_makes_a_rotated_ring(tmp_path: Path) -> None:
    out = await _bash(BASH[0] + 'echo "ring=$THREADLOOM_ENCRYPTION_KEYS"\n', _env())
    first, ring = out.splitlines()[0], out.splitlines()[-1].removeprefix("ring=")
    assert KeyRing.parse(first).ids == ["k1"]  # the first line printed one entry
    assert KeyRing.parse(ring).ids == ["k2", "k1"]


async def test_the_codec_server_block_serves_with_its_token(tmp_path: Path) -> None:
    port = free_port()
    ring = (await _bash(BASH[0] + 'echo "$THREADLOOM_ENCRYPTION_KEYS"\n', _env())).splitlines()[-1]
    script = BASH[1].replace(
        "threadloom codec-server",
        'echo "token=$THREADLOOM_CODEC_TOKEN"; exec threadloom codec-server',
        1,
    )
    env = _env(THREADLOOM_ENCRYPTION_KEYS=ring, THREADLOOM_CODEC_PORT=str(port))
    process = await asyncio.create_subprocess_exec(
        "bash", "-euc", script, env=env, stdout=asyncio.subprocess.PIPE, cwd=tmp_path
    )
    assert process.stdout is not None
    try:
        lines = []
        while not lines or not lines[-1].startswith("  temporal CLI:"):
            line = await asyncio.wait_for(process.stdout.readline(), 30)
            assert line, lines
            lines.append(line.decode().rstrip("\n"))
        token = lines[0].removeprefix("token=")
        assert f"  Temporal UI codec endpoint: http://127.0.0.1:{port}/{token}" in lines
        [sealed] = await EncryptionCodec(KeyRing.parse(ring)).encode([Payload(data=b'"hi"')])
        body = json_format.MessageToJson(Payloads(payloads=[sealed]))
        async with httpx.AsyncClient() as http:
            opened = await http.post(f"http://127.0.0.1:{port}/{token}/decode", content=body)
            refused = await http.post(f"http://127.0.0.1:{port}/decode", content=body)
        assert json_format.Parse(opened.text, Payloads()).payloads[0].data == b'"hi"'
        assert refused.status_code == 401
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0
