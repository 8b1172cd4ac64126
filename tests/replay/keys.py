"""The key ring of the encrypted recorded histories (`turn-encrypted*.json`): test keys, never real.

`k1` encrypted them when they were recorded; the replay tests read them with `k2` in front, as a
worker reads them after a key rotation. Histories without encrypted payloads replay through the same
codec unchanged.
"""

from __future__ import annotations

import base64

from temporalio.converter import DataConverter

from threadloom.starter.encryption import KeyRing, encrypted_converter

RECORDED_WITH = "k1:" + base64.b64encode(b"threadloom test key k1: not real").decode()
ROTATED = "k2:" + base64.b64encode(b"threadloom test key k2: not real").decode() + "," + RECORDED_WITH


def recording_converter() -> DataConverter:
    """The converter the encrypted histories were recorded with (key `k1` encrypts)."""
    return encrypted_converter(KeyRing.parse(RECORDED_WITH))


def replay_converter() -> DataConverter:
    """The converter every recorded history replays with: the ring after a rotation to `k2`
    (plaintext allowed: most recorded histories were written before encryption)."""
    return encrypted_converter(KeyRing.parse(ROTATED), allow_plaintext=True)
