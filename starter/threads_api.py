"""The Threads API as the command line and the starter API reach it: one client built from the settings,
and the checks a turn needs before anything is written (the assistant exists, a new thread).

Temporal never sees these calls: they run in the caller's process, before a turn starts.
"""

from __future__ import annotations

from collections.abc import Mapping

from threadloom.starter.errors import AssistantNotFound, ThreadsUnavailable
from threadloom.starter.settings import Settings
from threadloom.threads_client import ThreadsClient
from threadloom.threads_client.errors import NotFoundError, ThreadsError


def threads_client(settings: Settings) -> ThreadsClient:
    """A client of the Threads API the settings name, with their key and Azure style."""
    api_key = settings.threads_api_key.get_secret_value() if settings.threads_api_key else None
    return ThreadsClient(
        base_url=settings.threads_base_url,
        api_key=api_key,
        azure_api_version=settings.threads_azure_api_version,
        timeout=settings.threads_timeout_seconds,
    )


async def require_assistant(client: ThreadsClient, assistant_id: str) -> None:
    """Raise `AssistantNotFound` unless the assistant exists (so no thread or message is made for it).

    Raises:
        AssistantNotFound: the Threads API has no such assistant.
        ThreadsUnavailable: the Threads API could not be asked.
    """
    try:
        await client.assistants.retrieve(assistant_id)
    except NotFoundError as error:
        raise AssistantNotFound(f"no assistant {assistant_id} at {client.base_url}") from error
    except ThreadsError as error:
        raise ThreadsUnavailable(f"could not reach {client.base_url}: {error}") from error


async def create_thread(client: ThreadsClient, metadata: Mapping[str, str] | None = None) -> str:
    """Create an empty thread and return its id.

    Raises:
        ThreadsUnavailable: the thread could not be created.
    """
    try:
        thread = await client.threads.create(metadata=dict(metadata) if metadata else None)
    except ThreadsError as error:
        raise ThreadsUnavailable(f"could not create a thread at {client.base_url}: {error}") from error
    return thread.id
