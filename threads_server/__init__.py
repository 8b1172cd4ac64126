"""threadloom's self-hosted Threads API: FastAPI + SQLite + uvicorn, OpenAI Assistants v2 wire format.

`create_app(settings)` builds the app, `threads_server.cli.serve_main` runs it,
`threads_server.testing.running_server` starts it on a free port for tests.
"""

from threadloom.threads_server.app import create_app
from threadloom.threads_server.settings import LLMSettings, ServerSettings

__all__ = ["LLMSettings", "ServerSettings", "create_app"]
