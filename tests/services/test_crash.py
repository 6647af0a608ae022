"""A commit killed in the middle leaves the branch where it was and nothing that breaks later work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from imagehub.core.config import Settings
from imagehub.services import datasets
from imagehub.services.maintenance import check_integrity
from imagehub.services.platform import Platform, build_platform
from tests.support.datasets import commit_files

ROOT = Path(__file__).resolve().parents[2]

# Runs in a child process: uploads blobs, then builds a large commit and signals the
# parent from inside the node write, so the kill lands mid-transaction.
CHILD = textwrap.dedent(
    """
    import os, sys, time
    from imagehub.core.config import Settings
    from imagehub.core.vcs import ChangeSet, Entry
    from imagehub.models import vcs
    from imagehub.services import blobs, datasets
    from imagehub.services.platform import build_platform

    platform = build_platform(Settings(environment="test", data_dir=sys.argv[1], database_url=sys.argv[2]))
    original = vcs.SqlNodeStore.put_many

    def slow_put_many(self, nodes):
        original(self, nodes)
        self.session.flush()
        print("IN-COMMIT", flush=True)
        time.sleep(60)

    vcs.SqlNodeStore.put_many = slow_put_many
    with platform.sessions.begin() as session:
        changes = ChangeSet()
        for i in range(2000):
            blob, size = blobs.upload(session, platform, b"crash-%d" % i)
            changes.put(Entry(f"big/{i:05d}.dcm", blob, size))
        repo = datasets.repository(session, datasets.get(session, owner="lab", name="crashy"))
        repo.commit("main", changes, author="child", message="never lands")
    """
)


def test_kill_mid_commit(platform: Platform, settings: Settings) -> None:
    with platform.sessions.begin() as session:
        datasets.create(session, owner="lab", name="crashy", author="t")
    before = commit_files(platform, "lab", "crashy", "main", {"keep.dcm": b"keep"})
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(settings.data_dir), settings.effective_database_url],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert child.stdout is not None
    deadline = time.monotonic() + 120
    line = ""
    while time.monotonic() < deadline and "IN-COMMIT" not in line:
        line = child.stdout.readline()
        if not line and child.poll() is not None:
            break
    assert "IN-COMMIT" in line, "the child never reached the middle of its commit"
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)

    with platform.sessions() as session:
        repo = datasets.repository(session, datasets.get(session, owner="lab", name="crashy"))
        assert repo.resolve("main").id == before.id
        assert [e.path for e in repo.list_objects("main")] == ["keep.dcm"]
    after = commit_files(platform, "lab", "crashy", "main", {"next.dcm": b"next"})
    assert after.parents == (before.id,)
    assert check_integrity(platform, deep=True).ok
    fresh = build_platform(settings)  # a new process view sees the same
    assert check_integrity(fresh).ok
    fresh.close()
