"""`threadloom serve` and its database: the real command in a subprocess, on a real PostgreSQL.

Each failure to use the database stops the command at start-up with one line on stderr and exit 1;
no line the command prints ever holds the URL's password.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.ports import free_port
from tests.postgres import PostgresServer
from threadloom.threads_server.storage.migrations import LATEST

THREADLOOM = str(Path(sys.executable).with_name("threadloom"))


def _serve(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [THREADLOOM, "serve", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


def test_migrate_only_migrates_and_exits(postgres: PostgresServer, tmp_path: Path) -> None:
    url = postgres.create_database()
    done = _serve("--db", url, "--migrate-only", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert postgres.password not in done.stdout + done.stderr
    assert "***" in done.stdout
    import psycopg

    with psycopg.connect(url) as conn:
        versions = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
        assert [v for (v,) in versions] == list(range(1, LATEST + 1))
        assert conn.execute("SELECT COUNT(*) FROM threads").fetchone() == (0,)
    again = _serve("--migrate-only", cwd=tmp_path, env={"THREADLOOM_SERVER_DATABASE_URL": url})
    assert again.returncode == 0, again.stderr
    postgres.drop_database(url)


def test_an_unreachable_database_stops_the_command_in_one_line(tmp_path: Path) -> None:
    url = f"postgresql://threadloom:hunter2secret@127.0.0.1:{free_port()}/threads"
    done = _serve("--db", url, "--port", str(free_port()), cwd=tmp_path)
    assert done.returncode == 1
    line = _one_line(done)
    assert "cannot connect to PostgreSQL" in line and "threadloom:***@127.0.0.1" in line, line
    assert "hunter2secret" not in done.stdout + done.stderr
    # Before, this URL silently became a SQLite file under a folder named `postgresql:`.
    assert list(tmp_path.iterdir()) == []


def test_wrong_credentials_stop_the_command_in_one_line(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    url = postgres.url("postgres", password="not-the-password-42")
    done = _serve("--db", url, "--port", str(free_port()), cwd=tmp_path)
    assert done.returncode == 1
    line = _one_line(done)
    assert "password authentication failed" in line, line
    assert "not-the-password-42" not in done.stdout + done.stderr


def test_a_schema_from_a_newer_release_stops_the_command(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    url = postgres.create_database()
    assert _serve("--db", url, "--migrate-only", cwd=tmp_path).returncode == 0
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (%s, 0)", (LATEST + 1,))
    done = _serve("--db", url, "--port", str(free_port()), cwd=tmp_path)
    assert done.returncode == 1
    assert f"schema is version {LATEST + 1}, newer than this release" in _one_line(done)
    postgres.drop_database(url)


def test_an_unknown_url_scheme_is_a_settings_error(tmp_path: Path) -> None:
    done = _serve("--db", "mysql://root:topsecret@localhost/db", cwd=tmp_path)
    assert done.returncode == 2
    line = _one_line(done)
    assert "unsupported database URL" in line and "topsecret" not in done.stderr, line
    env = {"THREADLOOM_SERVER_DB_PATH": "postgresql://u:topsecret@localhost/db"}
    done = _serve("--migrate-only", cwd=tmp_path, env=env)
    assert done.returncode == 2 and "db_path takes a file path" in _one_line(done)
    assert "topsecret" not in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_served_postgresql_database_never_logs_its_password(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    url = postgres.create_database()
    port = free_port()
    process = subprocess.Popen(
        [THREADLOOM, "serve", "--db", url, "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/_threadloom/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        thread = httpx.post(f"http://127.0.0.1:{port}/v1/threads").json()
        assert httpx.get(f"http://127.0.0.1:{port}/v1/threads/{thread['id']}").status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert "threads server on" in output and "***@127.0.0.1" in output, output
    assert postgres.password not in output
    postgres.drop_database(url)
