"""The chat page: a browser front end to conversations, relaying streamed turns over SSE.

`threadloom web` serves it on its own (loopback, port 8701 by default); `threadloom dev` starts it
beside the stack. The page is static (`static/chat.html`, `chat.js`, `chat.css`: no build step, no
CDN); everything it shows comes from the JSON and SSE routes below, which use the same starter API a
backend uses (`Threadloom.stream_send`, `Threadloom.stream_events`) and the Threads API for history.

    GET  /chat                               the page; `?conversation=ID` reopens one
    GET  /api/assistants                     the assistants to pick from
    POST /api/assistants                     create one: {"name", "instructions"?, "model"?}
    GET  /api/conversations                  the newest conversations (`?assistant=ID`: of one)
    GET  /api/conversations/{id}             its thread, assistant and messages (404: no such one)
    POST /api/conversations/{id}/turns       send {"text", "assistant_id", ...}: SSE of the turn
    GET  /api/turns/{workflow_id}/events     SSE of a turn after the offset in `Last-Event-ID`

Each SSE event of a turn carries its stream offset as the SSE `id`, so a browser (or `EventSource`)
that lost the connection resumes with `Last-Event-ID` and gets every later event once.
"""

from __future__ import annotations

from threadloom.starter.web.server import WebServerError, running_web_server

__all__ = ["WebServerError", "running_web_server"]
