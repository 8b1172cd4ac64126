"""docker-compose.yml and the Dockerfile cannot run here (no Docker engine): check what can be checked.

Every `THREADLOOM_*` variable the compose file sets must be one a settings class reads, the search
attributes it registers must be the ones the workflows use, the commands it runs must parse, and every
path the Dockerfile copies must exist.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml
from pydantic_settings import BaseSettings

from starter.cli import build_parser
from starter.settings import Settings
from threads_server.settings import LLMSettings, ServerSettings
from workflows.contracts import SEARCH_ATTRIBUTES

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _env_names(settings_class: type[BaseSettings]) -> set[str]:
    prefix = settings_class.model_config.get("env_prefix", "")
    return {f"{prefix}{name}".upper() for name in settings_class.model_fields}


def test_compose_has_the_production_shaped_services(compose: dict) -> None:
    assert set(compose["services"]) >= {
        "postgresql",
        "temporal-schema",
        "temporal",
        "temporal-setup",
        "temporal-ui",
        "threads-server",
        "worker",
    }
    worker = compose["services"]["worker"]
    assert worker["depends_on"]["temporal-setup"]["condition"] == "service_completed_successfully"
    temporal = compose["services"]["temporal"]
    assert temporal["depends_on"]["temporal-schema"]["condition"] == ("service_completed_successfully")
    assert temporal["environment"]["DB"] == "postgres12"


def test_every_threadloom_variable_in_compose_is_read_by_a_settings_class(compose: dict) -> None:
    known = _env_names(Settings) | _env_names(ServerSettings) | _env_names(LLMSettings)
    used = {
        name
        for service in compose["services"].values()
        for name in (service.get("environment") or {})
        if name.startswith("THREADLOOM_")
    }
    assert used, "the compose file configures threadloom through THREADLOOM_* variables"
    assert used <= known, f"unknown settings: {sorted(used - known)}"


def test_compose_registers_the_search_attributes_the_workflows_use(compose: dict) -> None:
    script = compose["services"]["temporal-setup"]["command"][0]
    listed = re.search(r"for name in ([\w ]+); do", script)
    assert listed is not None
    assert set(listed.group(1).split()) == {key.name for key in SEARCH_ATTRIBUTES}


def test_compose_commands_parse(compose: dict) -> None:
    worker_command = compose["services"]["worker"]["command"]
    assert worker_command[0] == "threadloom"
    assert build_parser().parse_args(worker_command[1:]).command == "worker"
    serve = compose["services"]["threads-server"]["command"]
    assert serve[:2] == ["threadloom", "serve"]
    from threads_server.cli import build_parser as serve_parser

    parsed = serve_parser().parse_args(serve[2:])
    assert (parsed.host, parsed.port, parsed.db) == ("0.0.0.0", 8700, "/data/threads.db")


def test_dockerfile_copies_paths_that_exist() -> None:
    copied = []
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            copied += shlex.split(line)[1:-1]
    assert "worker.py" in copied and "threads_server" in copied
    missing = [path for path in copied if not (ROOT / path).exists()]
    assert not missing
