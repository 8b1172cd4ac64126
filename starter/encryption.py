"""Payload encryption: user text never sits in plain sight in Temporal.

Every payload threadloom writes (workflow inputs and results, activity arguments and results, update
arguments, static summaries and details, failure messages and stack traces) goes through
`EncryptionCodec`, AES-256-GCM from `cryptography` in the shape of Temporal's encryption sample: the
whole serialized payload is encrypted, and the new payload says `binary/encrypted` and which key did it.

Keys come from the environment as a key ring, `THREADLOOM_ENCRYPTION_KEYS="k2:<base64>,k1:<base64>"`:
the first key encrypts, every key decrypts, so a new key goes in front and the old one stays behind it
until no running or recorded workflow needs it. `THREADLOOM_ENCRYPTION=true` without keys reads the
ring from `<home>/encryption-keys`, which `threadloom dev` creates (one setting turns it on in dev).

Nothing falls back to plaintext: a malformed ring, or encryption turned on with no ring, fails when the
client or worker is built; a payload encrypted under a key id the ring lacks (or a worker with
encryption off) fails to decode with `EncryptionKeyError` naming that key id.

**Strict by default.** With encryption on, a payload that is not encrypted (plaintext where ciphertext
is expected: written before encryption was turned on, or by a client without the codec, or put into
the history by someone who should not) fails to decode with `PlaintextPayloadError` (an
`EncryptionKeyError`) naming its encoding, never its content: a worker does not run a turn on it,
a client does not return it. Migrating histories written before encryption was turned on (running
conversations, recorded histories to replay) is the one reason to accept them:
`THREADLOOM_ENCRYPTION_ALLOW_PLAINTEXT=true` lets such payloads decode as they are, while every new
payload is still encrypted; turn it off again once no open workflow holds plaintext. The codec
server always passes plaintext payloads through: it only shows histories, it executes nothing.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverter,
    PayloadCodec,
    PayloadConverter,
)

from threadloom.starter.settings import Settings

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12
KEY_FILE = "encryption-keys"
KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class EncryptionKeyError(RuntimeError):
    """A key is missing, malformed or unknown; the message names the key id and the setting."""


class PlaintextPayloadError(EncryptionKeyError):
    """Encryption is on and a payload is not encrypted (strict mode; see the module docstring)."""


@dataclass(frozen=True, repr=False)
class KeyRing:
    """Named AES-256 keys, the encrypting one first."""

    keys: tuple[tuple[str, bytes], ...]

    @classmethod
    def parse(cls, text: str, *, source: str = "THREADLOOM_ENCRYPTION_KEYS") -> KeyRing:
        """A ring from `id:base64key,id:base64key,…` (the first encrypts).

        Raises:
            EncryptionKeyError: an entry is not `id:base64`, a key is not 32 bytes, an id repeats,
                or the ring is empty; the message names the entry's key id and `source`.
        """
        keys: list[tuple[str, bytes]] = []
        for number, entry in enumerate(text.replace("\n", ",").split(","), start=1):
            entry = entry.strip()
            if not entry:
                continue
            key_id, colon, encoded = entry.partition(":")
            key_id = key_id.strip()
            if not colon or not KEY_ID.fullmatch(key_id):
                raise EncryptionKeyError(
                    f"{source}: entry {number} is not `id:base64key` with an id of letters, digits, "
                    "`_`, `.` or `-` (e.g. `k1:" + "A" * 43 + "=`)"
                )
            if any(key_id == known for known, _ in keys):
                raise EncryptionKeyError(f"{source}: key id {key_id!r} appears twice")
            keys.append((key_id, _decode_key(key_id, encoded.strip(), source)))
        if not keys:
            raise EncryptionKeyError(f"{source} holds no key")
        return cls(tuple(keys))

    @property
    def encrypting_id(self) -> str:
        """The id of the key that encrypts new payloads."""
        return self.keys[0][0]

    @property
    def ids(self) -> list[str]:
        """Every key id, the encrypting one first."""
        return [key_id for key_id, _ in self.keys]

    def __repr__(self) -> str:
        """Ids only: a ring in a traceback or a log line must not show its keys."""
        return f"KeyRing({', '.join(self.ids)})"


def _decode_key(key_id: str, encoded: str, source: str) -> bytes:
    """Standard or URL-safe base64, padded or not."""
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise EncryptionKeyError(f"{source}: key {key_id!r} is not base64") from None
    if len(key) != KEY_BYTES:
        raise EncryptionKeyError(
            f"{source}: key {key_id!r} is {len(key)} bytes; AES-256 needs {KEY_BYTES} "
            "(make one with `threadloom codec-server --new-key ID`)"
        )
    return key


def new_key_entry(key_id: str) -> str:
    """A fresh ring entry `key_id:<base64 of 32 random bytes>`."""
    if not KEY_ID.fullmatch(key_id):
        raise EncryptionKeyError(f"key id {key_id!r}: use letters, digits, `_`, `.` or `-`")
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()}"


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over whole payloads with the ring's first key; decrypts with any key of the ring.

    With `ring=None` (encryption off) it encodes nothing, and decoding an encrypted payload fails
    with a message naming its key id instead of the SDK's "unknown encoding". With a ring, decoding
    a payload that is not encrypted fails (`PlaintextPayloadError`) unless `allow_plaintext`.
    """

    def __init__(self, ring: KeyRing | None, *, allow_plaintext: bool = False) -> None:
        self.ring = ring
        self.allow_plaintext = allow_plaintext or ring is None
        self._ciphers = {key_id: AESGCM(key) for key_id, key in ring.keys} if ring else {}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encrypt every payload with the first key (nothing, when encryption is off)."""
        if self.ring is None:
            return list(payloads)
        key_id = self.ring.encrypting_id
        cipher = self._ciphers[key_id]
        encrypted = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            sealed = cipher.encrypt(nonce, payload.SerializeToString(), key_id.encode())
            metadata = {"encoding": ENCODING, KEY_ID_METADATA: key_id.encode()}
            encrypted.append(Payload(metadata=metadata, data=nonce + sealed))
        return encrypted

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decrypt the encrypted payloads; the others pass unchanged where plaintext is allowed.

        Raises:
            EncryptionKeyError: a payload's key id is not in the ring (or encryption is off here),
                or its key does not open it.
            PlaintextPayloadError: a payload is not encrypted, and plaintext is not allowed.
        """
        return [
            self._decrypt(p) if p.metadata.get("encoding") == ENCODING else self._plain(p)
            for p in payloads
        ]

    def _plain(self, payload: Payload) -> Payload:
        if self.allow_plaintext:
            return payload
        encoding = payload.metadata.get("encoding", b"").decode("utf-8", "replace")[:64]
        raise PlaintextPayloadError(
            f"a payload is not encrypted (encoding {encoding or 'none'!r}) but encryption is on: "
            "it was written without the codec (before encryption was turned on, or by a client "
            "without the key ring); set THREADLOOM_ENCRYPTION_ALLOW_PLAINTEXT=true only while "
            "migrating histories written before encryption"
        )

    def _decrypt(self, payload: Payload) -> Payload:
        key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode("utf-8", "replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            if self.ring is None:
                raise EncryptionKeyError(
                    f"a payload is encrypted with key {key_id!r} but encryption is off here: "
                    "set THREADLOOM_ENCRYPTION_KEYS to a ring that holds that key"
                )
            raise EncryptionKeyError(
                f"a payload is encrypted with key {key_id!r}, which the key ring "
                f"({', '.join(self.ring.ids)}) does not hold: add it to THREADLOOM_ENCRYPTION_KEYS"
            )
        data = payload.data
        try:
            if len(data) < NONCE_BYTES:
                raise InvalidTag  # too short to hold a nonce: no key opens it
            plain = cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], key_id.encode())
        except InvalidTag:
            raise EncryptionKeyError(
                f"a payload encrypted with key {key_id!r} does not decrypt with the ring's key "
                f"{key_id!r}: the key under that id changed, or the payload was altered"
            ) from None
        return Payload.FromString(plain)


class EncryptedFailureConverter(DefaultFailureConverter):
    """Failure messages and stack traces go into the encoded attributes, which the codec encrypts.

    All but a key error's: it names key ids only, and whoever reads the history without that key
    (a worker's operator, the UI without a codec server) must be able to read why nothing decodes.
    """

    def __init__(self) -> None:
        super().__init__(encode_common_attributes=True)
        self._plain = DefaultFailureConverter()

    def to_failure(
        self, exception: BaseException, payload_converter: PayloadConverter, failure: Failure
    ) -> None:
        """See `DefaultFailureConverter.to_failure`."""
        if isinstance(exception, EncryptionKeyError):
            self._plain.to_failure(exception, payload_converter, failure)
        else:
            super().to_failure(exception, payload_converter, failure)


def key_file(settings: Settings) -> Path:
    """Where `THREADLOOM_ENCRYPTION=true` finds the ring without keys set: `<home>/encryption-keys`."""
    return settings.home / KEY_FILE


def encryption_on(settings: Settings) -> bool:
    """True if `settings` ask for encryption: keys set, or `THREADLOOM_ENCRYPTION=true`."""
    return settings.encryption_keys is not None or settings.encryption


def key_ring(settings: Settings) -> KeyRing | None:
    """The ring the settings name (None when encryption is off).

    Raises:
        EncryptionKeyError: the ring is malformed, or encryption is on and there is no ring.
    """
    if settings.encryption_keys is not None:
        return KeyRing.parse(settings.encryption_keys.get_secret_value())
    if not settings.encryption:
        return None
    path = key_file(settings)
    if not path.is_file():
        raise EncryptionKeyError(
            f"THREADLOOM_ENCRYPTION is on but no key ring is set: set THREADLOOM_ENCRYPTION_KEYS, "
            f"or run `threadloom dev` here once to create {path}"
        )
    return KeyRing.parse(path.read_text(encoding="utf-8"), source=str(path))


def ensure_key_file(settings: Settings) -> Path | None:
    """Create the dev key ring file (one new key, `dev1`, owner-only) if encryption needs it."""
    if settings.encryption_keys is not None or not settings.encryption:
        return None
    path = key_file(settings)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(new_key_entry("dev1") + "\n")
    return path


def encrypted_converter(ring: KeyRing | None, *, allow_plaintext: bool = False) -> DataConverter:
    """The pydantic data converter with the codec of `ring` (None: encryption off, decoding guarded).

    With a ring, failure messages and stack traces move into the failure's encoded attributes, so
    the codec encrypts them too (a tool's error often quotes its arguments), and payloads that are
    not encrypted fail to decode unless `allow_plaintext` (migrating older histories).
    """
    if ring is None:
        return dataclasses.replace(pydantic_data_converter, payload_codec=EncryptionCodec(None))
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(ring, allow_plaintext=allow_plaintext),
        failure_converter_class=EncryptedFailureConverter,
    )


def data_converter(settings: Settings) -> DataConverter:
    """The data converter every part builds from `settings`: client, worker, replayer.

    Raises:
        EncryptionKeyError: as `key_ring`.
    """
    return encrypted_converter(key_ring(settings), allow_plaintext=settings.encryption_allow_plaintext)
