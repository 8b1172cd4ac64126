"""Find a secret in an exported history: as text, JSON-escaped, or base64 anywhere inside.

Temporal's JSON exports carry payload data as base64 (protobuf's JSON mapping), so a plain search
would miss every unencrypted payload. `leaks` decodes every base64-looking string it meets and also
looks for the secret's own base64 at each of the three byte alignments, so a secret inside a larger
base64 blob is found too.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Iterator
from typing import Any


def base64_forms(raw: bytes) -> set[str]:
    """The base64 characters that only `raw` determines, at each offset it can have in a blob."""
    forms = set()
    for shift in range(3):
        encoded = base64.b64encode(b"\x00" * shift + raw + b"\x00\x00").decode()
        start, end = math.ceil(8 * shift / 6), (8 * (shift + len(raw))) // 6
        form = encoded[start:end]
        forms |= {form, form.replace("+", "-").replace("/", "_")}
    return forms


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _decoded(text: str) -> bytes | None:
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        return None


def leaks(secret: str, exported: str) -> list[str]:
    """Where `secret` shows in `exported` (a JSON document, or any text): empty if nowhere."""
    raw = secret.encode()
    found = []
    if secret in exported or json.dumps(secret)[1:-1] in exported:
        found.append("as text")
    found += [f"as base64 {form!r}" for form in base64_forms(raw) if form in exported]
    try:
        document = json.loads(exported)
    except json.JSONDecodeError:
        return found
    for text in _strings(document):
        decoded = _decoded(text)
        if decoded is not None and raw in decoded:
            found.append(f"inside the base64 string {text[:40]!r}…")
    return found
