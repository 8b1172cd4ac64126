"""An upload becomes a file: checked, its text extracted, its `OpenAIFile` object built.

Everything is checked before anything is stored: the purpose (`assistants`, the one this server
uses; the spec's others are refused with a 400 saying so), the size (`max_file_bytes`), an empty
file, the format (`extract.extract_text`), and `expires_after` (`created_at` + 3600-2592000 s).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from threadloom.threads_server.errors import APIError
from threadloom.threads_server.files.extract import UnsupportedFile, extract_text
from threadloom.threads_server.ids import now
from threadloom.threads_server.storage import Database
from threadloom.threads_server.storage.files import insert_file

PURPOSES = ("assistants",)
SPEC_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
MIN_EXPIRY, MAX_EXPIRY = 3600, 2_592_000


def new_file_id() -> str:
    """`file-` and 24 random characters, like OpenAI's file ids."""
    from threadloom.threads_server.ids import new_id

    return "file-" + new_id("x")[2:]


@dataclass(frozen=True)
class Upload:
    """A checked upload: the object to store, its bytes and its text."""

    file: dict[str, Any]
    content: bytes
    text: str


def check_purpose(purpose: str | None) -> str:
    """The purpose, or a 400."""
    if not purpose:
        raise APIError("Missing required parameter: 'purpose'.", param="purpose")
    if purpose not in SPEC_PURPOSES:
        raise APIError(
            f"Invalid value for 'purpose': '{purpose}'; expected one of {', '.join(SPEC_PURPOSES)}.",
            param="purpose",
        )
    if purpose not in PURPOSES:
        raise APIError(
            f"This server stores files for purpose 'assistants' only, not '{purpose}'.",
            param="purpose",
            code="unsupported_purpose",
        )
    return purpose


def check_expiry(anchor: str | None, seconds: str | int | None) -> int | None:
    """The file's lifetime in seconds (None: until deleted), or a 400."""
    if anchor is None and seconds is None:
        return None
    if anchor != "created_at":
        raise APIError(
            "Invalid value for 'expires_after.anchor': it must be 'created_at'.",
            param="expires_after.anchor",
        )
    try:
        value = int(str(seconds))
    except ValueError:
        value = -1
    if not MIN_EXPIRY <= value <= MAX_EXPIRY:
        raise APIError(
            f"Invalid value for 'expires_after.seconds': an integer from {MIN_EXPIRY} to"
            f" {MAX_EXPIRY} is required, got {seconds!r}.",
            param="expires_after.seconds",
        )
    return value


async def check_upload(
    filename: str,
    content: bytes,
    purpose: str,
    *,
    max_bytes: int,
    expires_in: int | None = None,
) -> Upload:
    """The checked upload, or a 400/413 `APIError`."""
    if len(content) > max_bytes:
        raise APIError(
            f"The file is larger than this server accepts ({max_bytes} bytes).",
            status=413,
            param="file",
            code="file_too_large",
        )
    if not content:
        raise APIError("The file is empty.", param="file", code="empty_file")
    try:
        text = await asyncio.to_thread(extract_text, filename, content)
    except UnsupportedFile as exc:
        raise APIError(str(exc), param="file", code="unsupported_file") from None
    created = now()
    file: dict[str, Any] = {
        "id": new_file_id(),
        "object": "file",
        "bytes": len(content),
        "created_at": created,
        "filename": filename,
        "purpose": purpose,
        "status": "processed",
    }
    if expires_in is not None:
        file["expires_at"] = created + expires_in
    return Upload(file, content, text)


async def store_upload(db: Database, upload: Upload) -> dict[str, Any]:
    """Store a checked upload; the file object."""
    return await db.run(insert_file, upload.file, upload.content, upload.text)


async def upload_file(
    db: Database, filename: str, content: bytes, *, max_bytes: int, purpose: str = "assistants"
) -> dict[str, Any]:
    """Check and store one file (for code that uploads without HTTP); the file object."""
    upload = await check_upload(filename, content, check_purpose(purpose), max_bytes=max_bytes)
    return await store_upload(db, upload)
