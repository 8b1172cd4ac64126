"""`python -m threadloom.threads_server` runs the server (same arguments as `threadloom serve`)."""

from __future__ import annotations

import sys

from threadloom.threads_server.cli import serve_main

if __name__ == "__main__":
    sys.exit(serve_main())
