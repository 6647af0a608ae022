"""`imagehub fsck` and `imagehub gc` as an operator runs them."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from imagehub.core.config import Settings
from imagehub.core.vcs import RefKind, blob_key
from imagehub.models.vcs import CommitRow
from imagehub.services import datasets
from imagehub.services.platform import Platform
from tests.cli.test_cli import run
from tests.support.datasets import commit_files


@pytest.fixture
def env(settings: Settings) -> dict[str, str]:
    import os

    base = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEHUB_")}
    base.update(
        IMAGEHUB_DATA_DIR=str(settings.data_dir),
        IMAGEHUB_DATABASE_URL=settings.effective_database_url,
        COLUMNS="200",
    )
    return base


def test_fsck_and_gc(platform: Platform, env: dict[str, str]) -> None:
    with platform.sessions.begin() as session:
        datasets.create(session, owner="lab", name="ops", author="t")
    commit_files(platform, "lab", "ops", "main", {"a.dcm": b"alpha", "b.dcm": b"beta"})
    with platform.sessions.begin() as session:
        repo = datasets.repository(session, datasets.get(session, owner="lab", name="ops"))
        repo.create_branch("scratch", "main")
    commit_files(platform, "lab", "ops", "scratch", {"tmp.dcm": b"scratch only"})
    with platform.sessions.begin() as session:
        repo = datasets.repository(session, datasets.get(session, owner="lab", name="ops"))
        repo.delete_ref("scratch", RefKind.BRANCH)
        alpha = repo.stat("main", "a.dcm").blob

    clean = run(["fsck", "--deep"], env)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "checked" in clean.stdout
    assert "problem" not in clean.stdout

    dry = run(["gc", "--grace-hours", "0", "--dry-run"], env)
    assert dry.returncode == 0
    assert "would delete" in dry.stdout
    assert "0 derived objects (0 bytes)" in dry.stdout  # nothing was derived here
    swept = run(["gc", "--grace-hours", "0"], env)
    assert swept.returncode == 0
    assert "1 blobs" in swept.stdout
    assert run(["fsck"], env).returncode == 0

    beta = blob_key(repo.stat("main", "b.dcm").blob)
    platform.store.put(beta, b"be")  # cut short: plain fsck compares sizes
    cut = run(["fsck"], env)
    assert cut.returncode == 1
    assert "of 'b.dcm' is 2 bytes, not 4" in cut.stdout
    commit_files(platform, "lab", "ops", "main", {"again/b.dcm": b"beta"})  # the bytes sent again
    assert b"".join(platform.store.get(beta)) == b"beta"  # replaced the damaged object
    assert run(["fsck"], env).returncode == 0

    platform.store.delete(blob_key(alpha))  # type: ignore[arg-type]
    broken = run(["fsck"], env)
    assert broken.returncode == 1
    assert "a.dcm" in broken.stdout
    assert "nothing was changed" in broken.stdout

    with platform.sessions.begin() as session:  # a damaged commit row: reported, not a traceback
        session.execute(update(CommitRow).values(meta="{not json"))
    damaged = run(["fsck"], env)
    assert damaged.returncode == 1, damaged.stderr
    assert "is damaged: its parents or metadata are not JSON" in damaged.stdout
    assert "Traceback" not in damaged.stderr
    refused = run(["gc", "--grace-hours", "inf"], env)
    assert refused.returncode == 2
    assert "Traceback" not in refused.stderr
