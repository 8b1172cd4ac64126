"""The chat page's routes: the static page, assistants, and a conversation's history.

`app.py` only assembles and answers what the Threads API and Temporal already hold; the streamed
turns are `relay.py`'s. Errors are one JSON envelope, `{"error": {"type": …, "message": …}}`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from threadloom.starter.api import Threadloom
from threadloom.threads_client import Assistant, FunctionTool, ThreadsClient
from threadloom.threads_client.errors import APIStatusError, ThreadsError
from threadloom.workflows.contracts import ASSISTANT_ID, THREAD_ID, TURN_KEY_TAG, turn_workflow_id
from threadloom.workflows.conversation_contracts import (
    CONVERSATION_WORKFLOW,
    conversation_workflow_id,
)

STATIC = Path(__file__).with_name("static")
STATIC_TYPES = {"chat.js": "text/javascript", "chat.css": "text/css"}
PAGE_SECURITY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
"""The page runs its own script and style only, talks to this server only, and is not framed."""
HISTORY_LIMIT = 500
"""Most messages a reopened conversation shows (its newest)."""
RECENT_LIMIT = 20
"""Conversations the page offers to reopen."""
IDENTIFIER = re.compile(r"[A-Za-z0-9_.:-]{1,128}")


@dataclass(frozen=True)
class WebContext:
    """What the routes use: the starter API, the Threads API, and where the Temporal UI is."""

    loom: Threadloom
    threads: ThreadsClient
    ui_url: str | None
    namespace: str

    def workflow_url(self, workflow_id: str | None) -> str | None:
        """The Temporal UI page of `workflow_id`, if the UI's address is known."""
        if self.ui_url is None or workflow_id is None:
            return None
        namespace, workflow = quote(self.namespace, safe=""), quote(workflow_id, safe="")
        return f"{self.ui_url.rstrip('/')}/namespaces/{namespace}/workflows/{workflow}"


class WebError(Exception):
    """An answer other than 2xx: its status, type and message become the JSON envelope."""

    def __init__(self, status: int, type: str, message: str) -> None:
        super().__init__(message)
        self.status, self.type, self.message = status, type, message

    def response(self) -> JSONResponse:
        """The error as the JSON envelope."""
        return JSONResponse({"error": {"type": self.type, "message": self.message}}, self.status)


def context_of(request: Request) -> WebContext:
    """The `WebContext` the app was built with."""
    context: WebContext = request.app.state.web
    return context


async def json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object (a 400 `WebError` otherwise)."""
    try:
        body = await request.json()
    except ValueError:
        raise WebError(400, "InvalidRequest", "the body is not JSON") from None
    if not isinstance(body, dict):
        raise WebError(400, "InvalidRequest", "the body must be a JSON object")
    return body


def optional_text(body: dict[str, Any], name: str) -> str | None:
    """A string field of `body`, stripped; None when missing or empty (a 400 if not a string)."""
    value = body.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise WebError(400, "InvalidRequest", f"{name!r} must be a string")
    return value.strip()


def text_field(body: dict[str, Any], name: str) -> str:
    """A string field of `body`, stripped; missing or empty is a 400."""
    value = optional_text(body, name)
    if value is None:
        raise WebError(400, "InvalidRequest", f"{name!r} is required")
    return value


@functools.cache
def _static_file(name: str) -> bytes:
    """A file of `static/`, read once (a few kilobytes each)."""
    return (STATIC / name).read_bytes()


async def page(request: Request) -> Response:
    """The chat page itself (the query string is the page script's to read)."""
    headers = {"content-security-policy": PAGE_SECURITY, "cache-control": "no-store"}
    return Response(_static_file("chat.html"), media_type="text/html; charset=utf-8", headers=headers)


async def static(request: Request) -> Response:
    """`chat.js` and `chat.css`; nothing else of the folder is served."""
    name = request.path_params["name"]
    if name not in STATIC_TYPES:
        return WebError(404, "NotFound", f"no file {name!r}").response()
    return Response(_static_file(name), media_type=f"{STATIC_TYPES[name]}; charset=utf-8")


def _assistant_json(assistant: Assistant) -> dict[str, Any]:
    functions = [tool.function.name for tool in assistant.tools if isinstance(tool, FunctionTool)]
    return {"id": assistant.id, "name": assistant.name, "model": assistant.model, "tools": functions}


async def list_assistants(request: Request) -> Response:
    """The assistants of the Threads API, newest first."""
    threads = context_of(request).threads
    try:
        found = [_assistant_json(a) async for a in threads.assistants.list(order="desc")]
    except ThreadsError as error:
        return _threads_failure(error).response()
    return JSONResponse({"data": found})


async def create_assistant(request: Request) -> Response:
    """Create an assistant: `name`, and optionally `instructions` and `model` (default `echo`)."""
    try:
        body = await json_object(request)
        name = text_field(body, "name")
        instructions = optional_text(body, "instructions")
        model = optional_text(body, "model") or "echo"
    except WebError as error:
        return error.response()
    threads = context_of(request).threads
    try:
        made = await threads.assistants.create(model=model, name=name, instructions=instructions)
    except ThreadsError as error:
        return _threads_failure(error).response()
    return JSONResponse(_assistant_json(made), status_code=201)


def _threads_failure(error: ThreadsError) -> WebError:
    if isinstance(error, APIStatusError) and 400 <= error.status_code < 500:
        return WebError(error.status_code, "ThreadsAPIError", str(error))
    return WebError(502, "ThreadsUnavailable", f"the Threads API did not answer: {error}")


async def conversation_of(context: WebContext, conversation_id: str) -> dict[str, Any] | None:
    """The conversation's thread, assistant and state from its workflow, or None if it never ran."""
    workflow_id = conversation_workflow_id(conversation_id)
    try:
        described = await context.loom.client.get_workflow_handle(workflow_id).describe()
    except RPCError as error:
        if error.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
            return None
        raise WebError(503, "TemporalUnavailable", f"Temporal did not answer: {error}") from None
    attributes = described.typed_search_attributes
    running = described.status == WorkflowExecutionStatus.RUNNING
    return {
        "conversation_id": conversation_id,
        "workflow_id": workflow_id,
        "ui_url": context.workflow_url(workflow_id),
        "thread_id": attributes.get(THREAD_ID),
        "assistant_id": attributes.get(ASSISTANT_ID),
        "running": running,
    }


async def recent_conversations(request: Request) -> Response:
    """The newest conversations (`?assistant=` only that assistant's), from Temporal's visibility."""
    context = context_of(request)
    query = f'WorkflowType="{CONVERSATION_WORKFLOW}"'
    assistant = request.query_params.get("assistant")
    if assistant:
        if not IDENTIFIER.fullmatch(assistant):  # it goes into a list query
            return WebError(400, "InvalidRequest", f"not an assistant id: {assistant!r}").response()
        query += f' AND AssistantId="{assistant}"'
    found: dict[str, dict[str, Any]] = {}
    try:
        async for execution in context.loom.client.list_workflows(query, limit=RECENT_LIMIT * 2):
            conversation_id = execution.id.removeprefix("conversation-")
            if conversation_id in found:  # an earlier run of the same conversation
                continue
            found[conversation_id] = {
                "conversation_id": conversation_id,
                "assistant_id": execution.typed_search_attributes.get(ASSISTANT_ID),
                "running": execution.status == WorkflowExecutionStatus.RUNNING,
                "started_at": execution.start_time.isoformat(),
            }
    except RPCError as error:
        return WebError(503, "TemporalUnavailable", f"Temporal did not answer: {error}").response()
    newest = sorted(found.values(), key=lambda c: c["started_at"], reverse=True)
    return JSONResponse({"data": newest[:RECENT_LIMIT]})


async def conversation(request: Request) -> Response:
    """A conversation and its messages, oldest first, each turn linked to its workflow."""
    context = context_of(request)
    conversation_id = request.path_params["conversation_id"]
    try:
        found = await conversation_of(context, conversation_id)
        if found is None:
            raise WebError(404, "ConversationNotFound", f"no conversation {conversation_id!r}")
        found["messages"] = await _messages(context, found["thread_id"]) if found["thread_id"] else []
    except WebError as error:
        return error.response()
    return JSONResponse(found)


async def _messages(context: WebContext, thread_id: str) -> list[dict[str, Any]]:
    newest: list[Any] = []
    try:
        async for message in context.threads.threads.messages.list(thread_id, order="desc"):
            newest.append(message)
            if len(newest) >= HISTORY_LIMIT:
                break
    except ThreadsError as error:
        raise _threads_failure(error) from None
    shown, workflow_id = [], None
    for message in reversed(newest):
        turn_key = (message.metadata or {}).get(TURN_KEY_TAG)
        if message.role == "user":
            workflow_id = turn_workflow_id(thread_id, turn_key) if turn_key else None
        elif message.status == "in_progress":
            continue  # still being written: the page follows its turn's stream instead
        shown.append(
            {
                "id": message.id,
                "role": message.role,
                "text": message.text,
                "run_id": message.run_id,
                "workflow_id": workflow_id,
                "ui_url": context.workflow_url(workflow_id),
            }
        )
    return shown


async def _to_the_page(request: Request) -> Response:
    query = request.url.query
    return RedirectResponse(f"/chat?{query}" if query else "/chat", status_code=307)


def create_web_app(context: WebContext) -> Starlette:
    """The chat page's ASGI app (without the guard of `server.py`)."""
    from threadloom.starter.web.relay import relay_routes

    routes = [
        Route("/", _to_the_page),
        Route("/chat", page),
        Route("/static/{name}", static),
        Route("/api/assistants", list_assistants, methods=["GET"]),
        Route("/api/assistants", create_assistant, methods=["POST"]),
        Route("/api/conversations", recent_conversations, methods=["GET"]),
        Route("/api/conversations/{conversation_id}", conversation, methods=["GET"]),
        *relay_routes(),
    ]
    app = Starlette(routes=routes)
    app.state.web = context
    return app
