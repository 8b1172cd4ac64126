"""The key ring: the first key encrypts, every key decrypts, and every bad key fails naming its id.

Codec-level checks on real `Payload`s, then the two places a user meets them: `threadloom worker`
refusing to start with a bad ring, and a worker whose ring lacks the key of a started turn failing
that turn's workflow task with the key id in the message (never running it on plaintext).
"""

from __future__ import annotations

import asyncio
import base64
import os
import sys
import uuid
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from threadloom.starter.api import Threadloom
from threadloom.starter.encryption import (
    EncryptionCodec,
    EncryptionKeyError,
    KeyRing,
    PlaintextPayloadError,
    encrypted_converter,
    key_ring,
    new_key_entry,
)
from threadloom.starter.settings import Settings
from threadloom.threads_client import ThreadsClient
from threadloom.worker import build_worker
from threadloom.workflows.contracts import TurnRequest, UserMessage

K1, K2 = new_key_entry("k1"), new_key_entry("k2")
PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=b'{"text": "meet me at noon"}')


async def _roundtrip(encrypt_with: str, decrypt_with: str | None) -> Payload:
    [sealed] = await EncryptionCodec(KeyRing.parse(encrypt_with)).encode([PLAIN])
    ring = KeyRing.parse(decrypt_with) if decrypt_with else None
    [opened] = await EncryptionCodec(ring).decode([sealed])
    return opened


async def test_rotation_keeps_old_payloads_readable() -> None:
    [sealed] = await EncryptionCodec(KeyRing.parse(f"{K2},{K1}")).encode([PLAIN])
    assert sealed.metadata["encryption-key-id"] == b"k2"  # the first key encrypts
    assert b"noon" not in sealed.data
    assert await _roundtrip(K1, f"{K2},{K1}") == PLAIN  # a payload from before the rotation


def test_a_ring_shows_its_ids_never_its_keys() -> None:
    ring = KeyRing.parse(f"{K2},{K1}")
    assert repr(ring) == str(ring) == "KeyRing(k2, k1)"
    assert K1.partition(":")[2] not in repr(Settings(encryption_keys=K1))


async def test_unknown_key_id_is_named() -> None:
    with pytest.raises(EncryptionKeyError, match=r"key 'k1', which the key ring \(k2\) does not hold"):
        await _roundtrip(K1, K2)
    with pytest.raises(EncryptionKeyError, match="encrypted with key 'k1' but encryption is off"):
        await _roundtrip(K1, None)


async def test_a_changed_key_or_altered_payload_does_not_decrypt() -> None:
    with pytest.raises(EncryptionKeyError, match="key 'k1' does not decrypt"):
        await _roundtrip(K1, new_key_entry("k1"))
    [sealed] = await EncryptionCodec(KeyRing.parse(K1)).encode([PLAIN])
    sealed.metadata["encryption-key-id"] = b"k2"  # the key id is authenticated with the data
    with pytest.raises(EncryptionKeyError, match="key 'k2' does not decrypt"):
        await EncryptionCodec(KeyRing.parse(f"{K1},k2:{K1.partition(':')[2]}")).decode([sealed])
    sealed.data = sealed.data[:5]  # cut short, below the nonce's length
    with pytest.raises(EncryptionKeyError, match="key 'k2' does not decrypt"):
        await EncryptionCodec(KeyRing.parse(f"{K1},k2:{K1.partition(':')[2]}")).decode([sealed])


async def test_plaintext_is_refused_unless_migrating() -> None:
    refused = "not encrypted \\(encoding 'json/plain'\\)"
    with pytest.raises(PlaintextPayloadError, match=refused) as caught:
        await EncryptionCodec(KeyRing.parse(K1)).decode([PLAIN])
    assert "noon" not in str(caught.value)  # the refusal never quotes the payload
    migrating = EncryptionCodec(KeyRing.parse(K1), allow_plaintext=True)
    assert await migrating.decode([PLAIN]) == [PLAIN]  # written before encryption: as it is
    [sealed] = await migrating.encode([PLAIN])
    assert sealed.metadata["encoding"] == b"binary/encrypted"  # new payloads are still encrypted
    assert await EncryptionCodec(None).decode([PLAIN]) == [PLAIN]  # off: nothing to expect
    assert await EncryptionCodec(None).encode([PLAIN]) == [PLAIN]  # off: nothing encrypted


@pytest.mark.parametrize(
    ("ring", "message"),
    [
        ("k1:" + base64.b64encode(b"sixteen byte key").decode(), "key 'k1' is 16 bytes"),
        ("k1:not base64!", "key 'k1' is not base64"),
        (f"{K1},{K1}", "key id 'k1' appears twice"),
        ("just-a-key", "entry 1 is not `id:base64key`"),
        (" , ", "holds no key"),
    ],
    ids=["short-key", "not-base64", "duplicate-id", "no-id", "empty"],  # stable ids: K1 is random
)
def test_malformed_rings_are_refused(ring: str, message: str) -> None:
    with pytest.raises(EncryptionKeyError, match=message):
        key_ring(Settings(encryption_keys=ring))


def test_encryption_on_without_a_ring_is_refused(tmp_path: Path) -> None:
    with pytest.raises(EncryptionKeyError, match="THREADLOOM_ENCRYPTION is on but no key ring"):
        key_ring(Settings(encryption=True, home=tmp_path))
    assert key_ring(Settings(home=tmp_path)) is None  # off by default


async def _worker_stderr(cwd: Path, **settings: str) -> str:
    """`threadloom worker` with `settings` in its environment: its stderr (it must exit 1)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("THREADLOOM_ENCRYPTION")}
    env |= {**settings, "THREADLOOM_HOME": str(cwd / ".threadloom")}
    env["THREADLOOM_TEMPORAL_ADDRESS"] = "127.0.0.1:9"  # never reached: the ring fails first
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "threadloom.starter.cli",
        "worker",
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 1, (out, err)
    return err.decode()


async def test_worker_refuses_a_bad_or_missing_ring_at_start_up(tmp_path: Path) -> None:
    malformed, missing = await asyncio.gather(
        _worker_stderr(tmp_path, THREADLOOM_ENCRYPTION_KEYS=f"{K2},k1:dG9vIHNob3J0"),
        _worker_stderr(tmp_path, THREADLOOM_ENCRYPTION="true"),
    )
    assert "threadloom worker: THREADLOOM_ENCRYPTION_KEYS: key 'k1' is 9 bytes" in malformed
    assert "threadloom worker: THREADLOOM_ENCRYPTION is on but no key ring is set" in missing


async def test_worker_without_the_key_fails_the_turn_naming_it(
    temporal_env: WorkflowEnvironment,
    threads: ThreadsClient,
    assistant_id: str,
    thread_id: str,
    task_queue: str,
) -> None:
    """A turn started under key k9 on a worker whose ring holds only k1: the workflow task fails
    with k9 in its message, the turn does not run, and nothing was posted to the thread."""

    def client(ring: str) -> Client:
        return Client(
            temporal_env.client.service_client,
            namespace=temporal_env.client.namespace,
            data_converter=encrypted_converter(KeyRing.parse(ring)),
        )

    request = TurnRequest(
        thread_id=thread_id,
        assistant_id=assistant_id,
        message=UserMessage(text="hello"),
        turn_key=uuid.uuid4().hex,
    )
    handle = await Threadloom(client(new_key_entry("k9")), task_queue=task_queue).start_turn(request)
    raw = temporal_env.client.get_workflow_handle(handle.workflow_id)
    async with build_worker(client(K1), threads, task_queue=task_queue):
        failure = None
        for _ in range(100):
            history = await raw.fetch_history()
            failed = [
                e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
            ]
            if failed:
                failure = failed[0].workflow_task_failed_event_attributes.failure
                break
            await asyncio.sleep(0.1)
    await raw.terminate("test over")
    assert failure is not None
    assert "key 'k9', which the key ring (k1) does not hold" in failure.message
    assert [m async for m in threads.threads.messages.list(thread_id)] == []
