"""Object ids shaped like OpenAI's (`thread_…`, `msg_…`, 24 random characters) and the clock."""

from __future__ import annotations

import secrets
import string
import time

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str) -> str:
    """Return `prefix_` followed by 24 random letters and digits."""
    return prefix + "_" + "".join(secrets.choice(_ALPHABET) for _ in range(24))


def now() -> int:
    """Unix time in whole seconds, the resolution of every timestamp on the wire."""
    return int(time.time())
