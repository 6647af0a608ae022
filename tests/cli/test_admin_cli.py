"""Administration from the command line: first admin, users, tokens, the audit trail."""

from __future__ import annotations

import getpass
import json
import os
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy

from tests.cli.test_cli import IMAGEHUB, run
from tests.support.ports import free_port


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEHUB_")}
    base.update(IMAGEHUB_DATA_DIR=str(tmp_path / "var"), IMAGEHUB_DATABASE_URL=database_url, COLUMNS="250")
    return base


def run_stdin(args: list[str], env: dict[str, str], stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [IMAGEHUB, *args], env=env, input=stdin, capture_output=True, text=True, timeout=120
    )


def test_first_admin_users_tokens_and_audit(env: dict[str, str], tmp_path: Path) -> None:
    first = run(["migrate"], env)
    assert first.returncode == 0, first.stderr
    assert "created the first administrator: user admin" in first.stdout
    assert "first administrator" not in run(["migrate"], env).stdout  # only once

    made = run_stdin(
        ["user", "create", "dora", "--email", "dora@example.org", "--password-stdin"],
        env,
        "a long enough password\n",
    )
    assert made.returncode == 0, made.stderr
    short = run_stdin(["user", "create", "ed", "--password-stdin"], env, "short\n")
    assert short.returncode == 2
    assert "at least 10 characters" in short.stderr
    assert (
        run_stdin(["user", "create", "dora", "--password-stdin"], env, "a long enough password\n").returncode
        == 2
    )
    listed = run(["user", "list"], env).stdout
    assert "dora" in listed
    assert "admin" in listed

    token = run(["token", "create", "dora", "--name", "laptop", "--scope", "write"], env)
    assert token.returncode == 0, token.stderr
    secret = token.stdout.strip().splitlines()[-1]
    assert secret.startswith("ihp_")

    port = free_port()
    server = subprocess.Popen(
        [IMAGEHUB, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(150):
            try:
                httpx.get(f"{base}/api/v1/health", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        headers = {"Authorization": f"Bearer {secret}"}
        assert httpx.get(f"{base}/api/v1/auth/me", headers=headers).json()["username"] == "dora"
        assert (
            httpx.post(
                f"{base}/api/v1/datasets", json={"owner": "dora", "name": "x"}, headers=headers
            ).status_code
            == 201
        )
        login = httpx.post(
            f"{base}/api/v1/auth/login", json={"username": "dora", "password": "a long enough password"}
        )
        assert login.status_code == 200
    finally:
        server.terminate()
        log, _ = server.communicate(timeout=20)
    assert secret not in log
    assert "a long enough password" not in log

    verified = run(["audit", "verify"], env)
    assert verified.returncode == 0
    assert "intact" in verified.stdout
    out = tmp_path / "audit.jsonl"
    assert run(["audit", "export", "--format", "json", "--out", str(out)], env).returncode == 0
    actions = [json.loads(line)["action"] for line in out.read_text().splitlines()]
    for expected in ("user.create", "token.create", "dataset.create", "auth.login"):
        assert expected in actions
    assert secret not in out.read_text()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_admin_commands_refuse_what_would_go_wrong(env: dict[str, str]) -> None:
    assert run(["migrate"], env).returncode == 0  # the first administrator: admin
    empty = run_stdin(["user", "create", "nopw", "--password-stdin"], env, "")
    assert empty.returncode == 2
    assert "no password on standard input" in empty.stderr
    hostile = ["user", "create", "eve", "--email", "[/]\x1b[31m", "--password-stdin"]
    marked = run_stdin(hostile, env, "a long enough password\n")
    assert marked.returncode == 0, marked.stderr
    listed = run(["user", "list"], env)
    assert listed.returncode == 0, listed.stderr
    assert "[/]" in listed.stdout
    assert "\x1b[31m" not in listed.stdout
    last = run(["user", "admin", "admin", "--revoke"], env)
    assert last.returncode == 2
    assert "the last site administrator" in last.stderr
    assert "is not a site administrator" in run(["user", "admin", "eve", "--revoke"], env).stderr
    token_id = run(["token", "create", "eve", "--name", "ci"], env).stdout.split()[1]
    assert run(["token", "revoke", token_id, "--username", "eve"], env).returncode == 0
    again = run(["token", "revoke", token_id, "--username", "eve"], env)
    assert again.returncode == 2
    assert "was revoked already" in again.stderr
    exported = run(["audit", "export", "--format", "json"], env).stdout
    trail = [json.loads(line) for line in exported.splitlines()]
    [revoked] = [event for event in trail if event["action"] == "token.revoke"]
    assert revoked["actor"] == f"cli:{getpass.getuser()}@{socket.gethostname()}"[:64]  # who, on which machine
    tokens = run(["audit", "export", "--format", "json", "--action", "token."], env).stdout
    assert {json.loads(line)["action"] for line in tokens.splitlines()} == {"token.create", "token.revoke"}
    assert "is not a time" in run(["audit", "export", "--since", "soon"], env).stderr
    huge = run(["token", "revoke", "99999999999999999999", "--username", "eve"], env)
    assert huge.returncode == 2
    assert "Traceback" not in huge.stderr
    blank = run(["audit", "hold", " "], env)
    assert blank.returncode == 2
    assert "needs a reason" in blank.stderr
    assert run(["audit", "hold", "regulator's request"], env).returncode == 0
    held = run(["audit", "holds"], env).stdout
    assert "every event" in held
    assert "regulator's request" in held
    refused = run(["audit", "purge", "--retention-days", "1"], env)
    assert refused.returncode == 2
    assert "legal hold 1 (regulator's request) holds every event" in refused.stderr
    assert run(["audit", "release", "1"], env).returncode == 0
    assert "every event" not in run(["audit", "holds"], env).stdout
    nowhere = run(["serve", "--host", ""], env)
    assert nowhere.returncode == 2
    assert "host is empty" in nowhere.stderr


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # PostgreSQL refuses the edit itself
def test_audit_verify_walks_the_whole_chain_past_the_pages_checkpoint(
    env: dict[str, str], database_url: str
) -> None:
    assert run(["migrate"], env).returncode == 0  # records the first administrator's creation
    assert run(["audit", "hold", "a matter"], env).returncode == 0
    assert "intact" in run(["audit", "verify"], env).stdout  # and records the checkpoint
    engine = sqlalchemy.create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("UPDATE audit_events SET actor = 'mallory' WHERE id = 1"))
    engine.dispose()
    broken = run(["audit", "verify"], env)
    assert broken.returncode == 1
    assert "audit chain broken at event 1: content does not match its hash" in broken.stdout
