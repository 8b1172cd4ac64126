"""`threadloom files …`, `threadloom vector-stores …` and `threadloom send --file` against the real
servers (the session's threads server; `send` through a real worker on the Temporal dev server)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.file_search.helpers import DOCS
from threadloom.starter.cli import build_parser
from threadloom.starter.files_cli import files_command, vector_stores_command
from threadloom.starter.send import send_command
from threadloom.starter.settings import Settings
from threadloom.threads_client import ThreadsClient


@pytest.fixture
def settings(temporal_env: WorkflowEnvironment, threads_server: Any, task_queue: str) -> Settings:
    return Settings(
        temporal_address=temporal_env.client.service_client.config.target_host,
        threads_base_url=threads_server.base_url,
        task_queue=task_queue,
    )


@pytest.fixture
def docs(tmp_path: Path) -> dict[str, Path]:
    paths = {}
    for name, text in DOCS.items():
        paths[name] = tmp_path / name
        paths[name].write_text(text)
    return paths


async def cli(
    settings: Settings, capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, str, str]:
    args = build_parser().parse_args(list(argv))
    command = files_command if args.command == "files" else vector_stores_command
    code = await command(args, settings)
    out, err = capsys.readouterr()
    return code, out, err


async def test_files_and_vector_stores_commands(
    settings: Settings, docs: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = await cli(
        settings, capsys, "files", "upload", str(docs["bikes.md"]), str(docs["garden.txt"])
    )
    assert code == 0
    bikes, garden = out.split()
    assert (
        bikes.startswith("file")
        and f"uploaded bikes.md ({len(DOCS['bikes.md'])} bytes) as {bikes}" in err
    )
    code, out, _ = await cli(settings, capsys, "files", "list")
    assert f"{bikes}  {len(DOCS['bikes.md'])} bytes  assistants  bikes.md" in out

    code, out, err = await cli(
        settings,
        capsys,
        "vector-stores",
        "create",
        "--name",
        "docs",
        "--file",
        bikes,
        "--file",
        garden,
        "--wait",
    )
    assert code == 0
    store = out.strip()
    assert f"created {store}  completed  files 2/2  name 'docs'" in err
    code, out, _ = await cli(settings, capsys, "vector-stores", "search", store, "oil the bike chain")
    assert code == 0 and "bikes.md" in out.splitlines()[0] and "Oil the chain" in out.splitlines()[0]

    code, out, _ = await cli(settings, capsys, "files", "upload", str(docs["kettle.txt"]))
    kettle = out.strip()
    code, out, _ = await cli(settings, capsys, "vector-stores", "add", store, kettle, "--wait")
    assert (code, out.strip()) == (0, f"{store}  completed  files 3/3  name 'docs'")
    code, out, _ = await cli(settings, capsys, "vector-stores", "search", store, "descale", "--json")
    assert json.loads(out)["data"][0]["file_id"] == kettle

    # Bad input: exit 2 and nothing uploaded; unknown ids: a clear message.
    code, out, _ = await cli(settings, capsys, "files", "list", "--json")
    held = len(json.loads(out))
    missing = tmp_path / "missing.txt"
    code, _, err = await cli(settings, capsys, "files", "upload", str(docs["bikes.md"]), str(missing))
    assert (code, err) == (2, f"InvalidRequest: {missing}: not a file\n")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    code, _, err = await cli(settings, capsys, "files", "upload", str(empty))
    assert code == 2 and err.startswith("InvalidRequest: ")
    code, out, _ = await cli(settings, capsys, "files", "list", "--json")
    assert len(json.loads(out)) == held
    code, _, err = await cli(settings, capsys, "vector-stores", "create", "--file", "file-nope")
    assert code == 2 and err.startswith("InvalidRequest: ") and "file-nope" in err
    code, _, err = await cli(settings, capsys, "vector-stores", "search", "vs_nope", "q")
    assert code == 1 and err.startswith("NotFound: ") and "vs_nope" in err

    code, out, _ = await cli(settings, capsys, "vector-stores", "delete", store)
    assert (code, out) == (0, f"deleted {store}\n")
    code, out, _ = await cli(settings, capsys, "files", "delete", kettle)
    assert (code, out) == (0, f"deleted {kettle}\n")


@pytest.mark.usefixtures("engine_worker")
async def test_send_with_a_file_attaches_it_for_file_search(
    settings: Settings, threads: ThreadsClient, docs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assistant = await threads.assistants.create(model="echo", tools=[{"type": "file_search"}])
    argv = ["send", "search: when to prune roses", "--assistant", assistant.id, "--json"]
    args = build_parser().parse_args([*argv, "--file", str(docs["garden.txt"])])
    assert await send_command(args, settings) == 0
    out, err = capsys.readouterr()
    printed = json.loads(out)
    assert (
        'From garden.txt: "Water the tomatoes at dawn. Prune the roses in late winter'
        in printed["reply"]
    )
    assert "uploaded garden.txt as file" in err
    thread = await threads.threads.retrieve(printed["thread_id"])
    assert thread.tool_resources is not None and thread.tool_resources.file_search is not None
    assert len(thread.tool_resources.file_search.vector_store_ids or []) == 1

    missing = build_parser().parse_args([*argv, "--file", str(docs["garden.txt"]) + ".gone"])
    assert await send_command(missing, settings) == 2
    assert "InvalidRequest: " in capsys.readouterr().err


async def test_assistants_create_with_code_interpreter_says_the_server_refuses_it(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    from threadloom.starter.assistants import assistants_command

    args = build_parser().parse_args(["assistants", "create", "--tool", "code_interpreter"])
    assert await assistants_command(args, settings) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "InvalidRequest: Invalid 'tools[0]': The code_interpreter tool is not provided"
    )
