"""The client commands as a data engineer types them, against a live server."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from imagehub.sdk.client import Client
from imagehub.sdk.workcopy import WorkingCopy
from imagehub.services import datasets
from imagehub.services.platform import Platform
from tests.cli.test_cli import IMAGEHUB
from tests.conftest import Server
from tests.support.datasets import commit_files


def cli(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([IMAGEHUB, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_ingest_clone_change_push_pull(server: Server) -> None:
    env = {
        **os.environ,
        "IMAGEHUB_URL": server.url,
        "COLUMNS": "200",
        "XDG_CONFIG_HOME": str(server.tmp / "config"),
        "IMAGEHUB_CACHE_DIR": str(server.tmp / "cache"),
    }
    env.pop("IMAGEHUB_TOKEN", None)
    work = server.tmp
    denied = cli(["clone", "lab/scans", "nope"], work, env)
    assert denied.returncode == 2
    assert f"no token for {server.url}: run imagehub login {server.url}" in denied.stderr
    login = cli(["login", server.url, "--token", server.token], work, env)
    assert login.returncode == 0, login.stderr
    assert "as lab" in login.stdout
    assert ((work / "config" / "imagehub" / "credentials.json").stat().st_mode & 0o777) == 0o600

    folder = work / "incoming"
    (folder / "p1").mkdir(parents=True)
    (folder / "p1" / "ct1.dcm").write_bytes(b"one" * 1000)
    (folder / "p1" / "ct2.dcm").write_bytes(b"two" * 1000)
    (folder / ".git").mkdir()
    (folder / ".git" / "config").write_bytes(b"not data")  # hidden folders are left out
    (work / "empty" / ".hidden").mkdir(parents=True)
    nothing = cli(["ingest", str(work / "empty"), "--dataset", "lab/never", "--branch", "main"], work, env)
    assert nothing.returncode == 2
    assert "holds no files to ingest" in nothing.stderr
    ingested = cli(["ingest", str(folder), "--dataset", "lab/scans", "--branch", "main"], work, env)
    assert ingested.returncode == 0, ingested.stderr
    assert "ingested 2 files" in ingested.stdout
    again = cli(["ingest", str(folder), "--dataset", "lab/scans", "--branch", "main"], work, env)
    assert again.returncode == 0, again.stderr
    assert "already holds these 2 files" in again.stdout

    assert cli(["clone", "lab/scans", "a"], work, env).returncode == 0
    assert cli(["clone", "lab/scans", "b"], work, env).returncode == 0
    a = work / "a"
    assert "working tree clean" in cli(["status"], a, env).stdout
    (a / "p1" / "ct3.dcm").write_bytes(b"three")
    assert "added" in cli(["status"], a, env).stdout
    assert cli(["add", "."], a, env).returncode == 0
    assert cli(["commit", "-m", "third slice"], a, env).returncode == 0
    pushed = cli(["push"], a, env)
    assert pushed.returncode == 0, pushed.stderr
    assert "pushed" in pushed.stdout
    assert "third slice" in cli(["log"], a, env).stdout
    assert cli(["tag", "v1", "-m", "first release"], a, env).returncode == 0
    assert "v1" in cli(["tag"], a, env).stdout
    assert cli(["branch", "review"], a, env).returncode == 0
    assert "review" in cli(["branch"], a, env).stdout

    # Paths are taken from the current folder, as in git: `add .` in p1 stages p1 only.
    (a / "p1" / "ct4.dcm").write_bytes(b"four")
    (a / "top.txt").write_bytes(b"not yet")
    staged = cli(["add", "."], a / "p1", env)
    assert staged.returncode == 0, staged.stderr
    assert "staged 1 change(s)" in staged.stdout
    assert cli(["add", "ct4.dcm"], a / "p1", env).returncode == 0
    assert cli(["commit", "-m", "fourth"], a, env).returncode == 0
    (a / "top.txt").unlink()

    b = work / "b"
    pulled = cli(["pull"], b, env)
    assert pulled.returncode == 0, pulled.stderr
    assert (b / "p1" / "ct3.dcm").read_bytes() == b"three"
    diff = cli(["diff", "v1~1", "v1"], b, env)
    assert "added" in diff.stdout
    assert "p1/ct3.dcm" in diff.stdout
    (b / "p1" / "ct3.dcm").write_bytes(b"edited in b")
    assert cli(["push"], a, env).returncode == 0
    (a / "p1" / "ct3.dcm").write_bytes(b"edited in a")
    assert cli(["add", "p1/ct3.dcm"], a, env).returncode == 0
    assert cli(["commit", "-m", "edit"], a, env).returncode == 0
    assert cli(["push"], a, env).returncode == 0
    refused = cli(["pull"], b, env)
    assert refused.returncode == 2
    assert "would be overwritten: 'p1/ct3.dcm'" in refused.stderr
    outside = cli(["status"], work, env)
    assert outside.returncode == 2
    assert "not inside an ImageHub working copy" in outside.stderr

    # A working copy at a tag has no branch: log and diff start from the commit it holds.
    assert cli(["clone", "lab/scans", "c", "--ref", "v1"], work, env).returncode == 0
    detached = cli(["log"], work / "c", env)
    assert detached.returncode == 0, detached.stderr
    assert "third slice" in detached.stdout
    assert "fourth" not in detached.stdout
    since = cli(["diff", "v1~1"], work / "c", env)
    assert since.returncode == 0, since.stderr
    assert "p1/ct3.dcm" in since.stdout
    pushed_types = {e.path: e.media_type for e in server.client().dataset("lab/scans").files("main")}
    assert pushed_types["p1/ct3.dcm"] == pushed_types["p1/ct1.dcm"] == "application/dicom"


def test_commands_use_the_server_of_the_last_login(server: Server) -> None:
    env = {**os.environ, "XDG_CONFIG_HOME": str(server.tmp / "config"), "COLUMNS": "200"}
    for name in ("IMAGEHUB_URL", "IMAGEHUB_TOKEN"):
        env.pop(name, None)
    work = server.tmp
    unknown = cli(["create", "lab/later"], work, env)
    assert unknown.returncode == 2
    assert "which server? pass --url (or set IMAGEHUB_URL), or sign in once" in unknown.stderr
    assert cli(["login", server.url, "--token", server.token], work, env).returncode == 0
    created = cli(["create", "lab/later"], work, env)
    assert created.returncode == 0, created.stderr
    assert f"next: imagehub clone lab/later --url {server.url}" in created.stdout
    assert cli(["clone", "lab/later", "later"], work, env).returncode == 0
    listed = cli(["release", "list", "lab/later"], work, env)
    assert listed.returncode == 0, listed.stderr


def test_a_file_name_that_is_not_utf8_is_named_not_a_traceback(server: Server) -> None:
    """Linux allows any bytes in a name; a dataset path is UTF-8 text."""
    server.client().create_dataset("lab/names")
    copy = WorkingCopy.clone(server.url, "lab/names", server.tmp / "copy")
    (copy.root / "ok.dcm").write_bytes(b"ok")
    Path(os.fsdecode(bytes(copy.root) + b"/bad\xff.dcm")).write_bytes(b"bad")
    env = {**os.environ, "IMAGEHUB_URL": server.url}
    status = cli(["status"], copy.root, env)
    assert status.returncode == 0, status.stderr
    assert "ok.dcm" in status.stdout
    assert "bad" in status.stdout
    refused = cli(["add", "."], copy.root, env)
    assert refused.returncode == 2
    assert "'bad\\xff.dcm' cannot be versioned: rename it (the name is not valid UTF-8)" in refused.stderr
    assert copy.status().staged == []


def test_every_command_that_opens_a_raw_branch_takes_purpose(server: Server, platform: Platform) -> None:
    """The server's "pass --purpose" holds whichever command it answered."""
    server.client().create_dataset("lab/phi")
    with platform.sessions.begin() as session:
        datasets.repository(session, datasets.get(session, owner="lab", name="phi")).create_branch(
            "raw", "main"
        )
    commit_files(platform, "lab", "phi", "raw", {"p1/ct.dcm": b"PHI-BYTES"})
    env = {**os.environ, "IMAGEHUB_URL": server.url}
    env.pop("IMAGEHUB_PURPOSE", None)
    work = server.tmp
    refused = cli(["clone", "lab/phi", "raw", "--ref", "raw"], work, env)
    assert refused.returncode == 2
    assert "pass --purpose" in refused.stderr
    why = ["--purpose", "QC of the de-identification"]
    assert cli(["clone", "lab/phi", "raw", "--ref", "raw", *why], work, env).returncode == 0
    assert (work / "raw" / "p1" / "ct.dcm").read_bytes() == b"PHI-BYTES"
    copy = work / "raw"
    for command in (["pull"], ["checkout", "raw"], ["log"], ["diff", "main", "raw"]):
        assert cli(command, copy, env).returncode == 2, command
        stated = cli([*command, *why], copy, env)
        assert stated.returncode == 0, stated.stderr


def test_an_ingest_refused_for_a_raw_branch_leaves_no_branch_in_an_existing_dataset(server: Server) -> None:
    remote = server.client().create_dataset("lab/scans")
    folder = server.tmp / "incoming"
    folder.mkdir()
    (folder / "ct.dcm").write_bytes(b"PATIENT DOE" * 1000)
    env = {**os.environ, "IMAGEHUB_URL": server.url}
    env.pop("IMAGEHUB_PURPOSE", None)
    ingest = ["ingest", str(folder), "--dataset", "lab/scans", "--branch", "raw"]
    refused = cli(ingest, server.tmp, env)
    assert refused.returncode == 2
    assert "pass --purpose" in refused.stderr
    assert remote.branch("raw") is None
    assert remote.missing([hashlib.sha256(b"PATIENT DOE" * 1000).hexdigest()])  # nothing was sent
    stated = cli([*ingest, "--purpose", "import from the scanner"], server.tmp, env)
    assert stated.returncode == 0, stated.stderr
    assert "ingested 1 files" in stated.stdout
    assert Client(server.url, server.token, purpose="audit").dataset("lab/scans").branch("raw") is not None
