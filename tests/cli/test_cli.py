"""The `imagehub` command as a user runs it: a real process, real exit codes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import click
import httpx
import pytest
import typer.main

from imagehub import __version__
from imagehub.cli.main import app
from tests.support.ports import free_port

IMAGEHUB = str(Path(sys.executable).with_name("imagehub"))


def run(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([IMAGEHUB, *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEHUB_")}
    base.update(IMAGEHUB_DATA_DIR=str(tmp_path / "var"), IMAGEHUB_DATABASE_URL=database_url, COLUMNS="200")
    return base


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_version(env: dict[str, str]) -> None:
    result = run(["version"], env)
    assert result.returncode == 0
    assert result.stdout.strip() == f"imagehub {__version__}"


def test_migrate_then_serve_then_health(env: dict[str, str]) -> None:
    migrated = run(["migrate"], env)
    assert migrated.returncode == 0, migrated.stderr
    assert "is at schema" in migrated.stdout
    port = free_port()
    server = subprocess.Popen(
        [IMAGEHUB, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        body = None
        for _ in range(150):
            try:
                body = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2).json()
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert body is not None, "server never answered"
        assert body["status"] == "ok"
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=20)
    assert f"http://127.0.0.1:{port}/api/docs" in output


@pytest.mark.parametrize(
    "command",
    [["serve", "--port", str(free_port())], ["fsck"], ["gc"], ["samples"], ["user", "list"]],
    ids=lambda c: c[0],
)
def test_database_commands_refuse_an_unmigrated_database(env: dict[str, str], command: list[str]) -> None:
    line = one_line_error(run(command, env))
    assert "run `imagehub migrate`" in line


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_gc_refuses_a_negative_grace_period(env: dict[str, str]) -> None:
    assert run(["migrate"], env).returncode == 0
    result = run(["gc", "--grace-hours", "-1"], env)
    assert result.returncode == 2
    assert "--grace-hours" in result.stderr
    assert "Traceback" not in result.stderr


def test_doctor_reports_and_fails_until_migrated(env: dict[str, str]) -> None:
    nowhere = one_line_error(run(["doctor"], env))  # no data directory: no second instance made
    assert "no ImageHub data directory" in nowhere
    assert not Path(env["IMAGEHUB_DATA_DIR"]).exists()
    Path(env["IMAGEHUB_DATA_DIR"]).mkdir()
    before = run(["doctor"], env)
    assert before.returncode == 1
    assert "FAIL" in before.stdout
    assert "imagehub migrate" in before.stdout
    run(["migrate"], env)
    after = run(["doctor"], env)
    assert after.returncode == 0, after.stdout
    for check in ("database", "schema", "object storage", "tesseract", "dciodvfy"):
        assert check in after.stdout


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        (
            "IMAGEHUB_DATABASE_URL",
            f"postgresql://nobody@127.0.0.1:{free_port()}/x",
            "cannot connect to database",
        ),
        ("IMAGEHUB_DATABASE_URL", "mysql://h/db", "unsupported database"),
        ("IMAGEHUB_STORAGE_URL", "ftp://example/x", "unknown storage scheme"),
        ("IMAGEHUB_PORT", "not-a-port", "invalid settings"),
    ],
    ids=["unreachable-db", "unsupported-db", "unknown-storage", "bad-port"],
)
def test_bad_settings_are_one_clear_line(
    env: dict[str, str], variable: str, value: str, expected: str
) -> None:
    env[variable] = value
    assert expected in one_line_error(run(["migrate"], env))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_unwritable_data_dir_is_one_clear_line(env: dict[str, str], tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    env["IMAGEHUB_DATA_DIR"] = str(blocker / "var")
    assert "not writable" in one_line_error(run(["migrate"], env))


def test_error_text_is_printed_as_it_is_not_as_markup(env: dict[str, str]) -> None:
    assert run(["migrate"], env).returncode == 0
    result = run(["token", "create", "x[/]y", "--name", "a"], env)
    assert "x[/]y" in one_line_error(result)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_serve_on_a_port_in_use_is_one_line_before_any_banner(env: dict[str, str]) -> None:
    assert run(["migrate"], env).returncode == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(["serve", "--host", "127.0.0.1", "--port", str(port)], env)
    assert f"cannot listen on 127.0.0.1:{port}" in one_line_error(result)
    assert "ImageHub" not in result.stdout


def test_every_command_and_group_says_what_it_does() -> None:
    """`imagehub --help` and each group's help list one line per command: none is blank."""

    def walk(command: click.Command, trail: str) -> Iterator[tuple[str, click.Command]]:
        yield trail, command
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, f"{trail} {name}")

    commands = list(walk(typer.main.get_command(app), "imagehub"))
    assert len(commands) > 30
    assert [trail for trail, command in commands if not (command.help or command.short_help)] == []
