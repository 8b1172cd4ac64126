"""A throwaway PostgreSQL server for the tests and the benchmark: Debian's PostgreSQL 15 binaries in a
temporary directory.

```python
with PostgresServer.start() as pg:
    url = pg.create_database()      # a fresh, empty database (a copy of template0)
    pg.stop(); pg.restart()         # the database going away and coming back
```

`initdb` and `pg_ctl` refuse to run as root; CI runs as root, so there they run as the `postgres`
user (`runuser -u postgres -- …`) on a directory that user owns (pytest's temporary directories
are private to root, so the cluster gets its own `mkdtemp` directory). The cluster listens on
127.0.0.1 on a free port with password (md5) authentication, so the URLs carry a real password.
For the tests, durability is off (`fsync`, `synchronous_commit`): that matters only if the machine
crashes mid-test; the benchmark starts it `durable=True`, as a deployment would run.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

BIN_DIRS = (Path("/usr/lib/postgresql/15/bin"), Path("/usr/lib/postgresql/16/bin"))
USER = "threadloom"
START_ATTEMPTS = 5
MISSING = (
    "PostgreSQL server binaries not found ({dirs}); install Debian's `postgresql` package "
    "(.ci/run does: apt-get install -y postgresql)"
)


def find_bin_dir() -> Path | None:
    """The directory holding `initdb` and `pg_ctl`, or None."""
    for candidate in BIN_DIRS:
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    """One PostgreSQL cluster; `url(dbname)` gives a URL with the test user's password."""

    root: Path
    bin_dir: Path
    port: int
    password: str
    admin_db: str = "postgres"
    durable: bool = False

    @classmethod
    def start(cls, *, durable: bool = False) -> PostgresServer:
        """initdb + pg_ctl start in a new temporary directory; RuntimeError without the binaries."""
        bin_dir = find_bin_dir()
        if bin_dir is None:
            raise RuntimeError(MISSING.format(dirs=", ".join(str(d) for d in BIN_DIRS)))
        root = Path(tempfile.mkdtemp(prefix="threadloom-pg-"))
        password = secrets.token_hex(8)
        server = cls(root=root, bin_dir=bin_dir, port=_free_port(), password=password, durable=durable)
        try:
            server._init()
            for attempt in range(START_ATTEMPTS):
                try:
                    server.restart()
                    server._fast_password()
                    return server
                except RuntimeError:
                    # The free port was taken between picking and binding (other tests pick too).
                    if attempt == START_ATTEMPTS - 1 or "already in use" not in server.log_tail():
                        raise
                    server.port = _free_port()
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        raise AssertionError("unreachable")

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, dbname: str, *, password: str | None = None) -> str:
        """`postgresql://threadloom:<password>@127.0.0.1:<port>/<dbname>`."""
        secret = self.password if password is None else password
        return f"postgresql://{USER}:{secret}@127.0.0.1:{self.port}/{dbname}"

    def _run(self, *args: str) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(
                f"{args[0]} failed ({done.returncode}): {done.stderr.strip()} {self.log_tail()[-500:]}"
            )

    def _init(self) -> None:
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(pwfile, "postgres", "postgres")
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            USER,
            f"--pwfile={pwfile}",
            "--auth=md5",
            "--encoding=UTF8",
            "--locale=C",
        )
        pwfile.unlink()

    def _fast_password(self) -> None:
        # Stored as md5 rather than scram: a scram login costs ~18 ms of hashing, and the tests open
        # hundreds of connections. Authentication is still by password (`--auth=md5`).
        self.admin(f"SET password_encryption = 'md5'; ALTER ROLE {USER} PASSWORD '{self.password}'")

    def restart(self) -> None:
        """Start the server (again) on its port and wait until it accepts connections."""
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='{self.root}'"
            " -c max_connections=300"
        )
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-o", options, "-w", "start"
        )

    def log_tail(self) -> str:
        """The end of the server's log."""
        log = self.root / "log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else ""

    def stop(self) -> None:
        """Stop the server at once (`-m fast`: open connections are cut)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def cpu_seconds(self) -> float:
        """CPU seconds (user + system) of the server's processes so far, exited backends included."""
        pid_file = self.data / "postmaster.pid"
        if not pid_file.exists():
            return 0.0
        postmaster = int(pid_file.read_text().split()[0])
        total = 0.0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                text = (entry / "stat").read_text()
            except OSError:
                continue
            fields = text[text.rindex(")") + 2 :].split()
            if int(entry.name) == postmaster:  # its own time and that of its waited-for children
                total += sum(int(f) for f in fields[11:15])
            elif int(fields[1]) == postmaster:
                total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def admin(self, sql: str) -> None:
        """Run one statement as the test user (a superuser) outside a transaction."""
        import psycopg

        with psycopg.connect(self.url(self.admin_db), autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self, template: str = "template0") -> str:
        """A new database, a copy of `template` (default: empty); its URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        self.admin(f"CREATE DATABASE {name} TEMPLATE {template} STRATEGY FILE_COPY")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database made by `create_database`, cutting any connection still open to it."""
        name = url.rsplit("/", 1)[1]
        self.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def close(self) -> None:
        """Stop the server and delete its directory."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
