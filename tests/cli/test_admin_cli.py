"""Administration from the command line: first admin, users, tokens, the audit trail."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

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
