"""Garbage collection never takes what a ref, a recent commit or a racing commit needs."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import timedelta
from hashlib import sha256
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file
from sqlalchemy import delete, select, update

from imagehub.core.compute.local import LocalExecutor
from imagehub.core.errors import NotFound
from imagehub.core.vcs import ChangeSet, Entry, MissingBlobs, RefKind, Repository, blob_key
from imagehub.core.vcs.deltas import encode_delta
from imagehub.core.vcs.maintenance import mark
from imagehub.models import vcs as vcs_queries
from imagehub.models.base import utcnow
from imagehub.models.imaging import ImagingFile, SeriesRow
from imagehub.models.vcs import BlobRow, DeltaRow, NodeRow, SqlCommitStore, SqlNodeStore
from imagehub.services import blobs, datasets, imaging, maintenance, phi_gate
from imagehub.services.maintenance import check_integrity, collect_garbage
from imagehub.services.platform import Platform
from tests.support.datasets import commit_files

NOW = timedelta(0)


def repo_of(session):  # type: ignore[no-untyped-def]
    return datasets.repository(session, datasets.get(session, owner="lab", name="gc"))


@pytest.fixture
def history(platform: Platform) -> dict[str, str]:
    with platform.sessions.begin() as session:
        datasets.create(session, owner="lab", name="gc", author="t")
    commit_files(platform, "lab", "gc", "main", {"kept/a": b"kept-a", "old/b": b"only-in-history"})
    commit_files(platform, "lab", "gc", "main", {"old/b": None})
    with platform.sessions.begin() as session:
        repo_of(session).create_branch("doomed", "main")
    commit_files(platform, "lab", "gc", "doomed", {"doomed/c": b"only-on-doomed"})
    with platform.sessions.begin() as session:
        repo_of(session).delete_ref("doomed", RefKind.BRANCH)
    with platform.sessions.begin() as session:
        blob, _ = blobs.upload(session, platform, b"uploaded-never-committed")
    return {"history": "only-in-history", "doomed": "only-on-doomed", "loose": blob}


def stored(platform: Platform, content: bytes) -> bool:
    from hashlib import sha256

    return platform.store.exists(blob_key(sha256(content).hexdigest()))  # type: ignore[arg-type]


def test_grace_period_protects_recent_work(platform: Platform, history: dict[str, str]) -> None:
    report = collect_garbage(platform, grace=timedelta(hours=1))
    assert report.deleted_blobs == 0
    assert stored(platform, b"only-on-doomed")
    assert check_integrity(platform).ok


def test_sweeps_only_the_unreachable(platform: Platform, history: dict[str, str]) -> None:
    platform.store.put(blob_key(sha256(b"never-indexed").hexdigest()), b"never-indexed")  # type: ignore[arg-type]
    dry = collect_garbage(platform, grace=NOW, dry_run=True)
    assert (dry.deleted_commits, dry.deleted_blobs) == (1, 3)  # what a real run removes, below
    swept = (b"only-on-doomed", b"uploaded-never-committed", b"never-indexed")
    assert dry.freed_bytes == sum(map(len, swept))
    assert stored(platform, b"only-on-doomed")
    assert stored(platform, b"never-indexed")
    report = collect_garbage(platform, grace=NOW)
    assert not stored(platform, b"only-on-doomed")  # its branch is gone
    assert not stored(platform, b"uploaded-never-committed")
    assert not stored(platform, b"never-indexed")
    assert stored(platform, b"kept-a")
    assert stored(platform, b"only-in-history")  # still reachable through main's history
    assert report.deleted_blobs == 3
    assert report.deleted_commits == 1
    assert check_integrity(platform, deep=True).ok
    commit_files(platform, "lab", "gc", "main", {"after-gc": b"fine"})
    assert collect_garbage(platform, grace=NOW).deleted_blobs == 0  # idempotent


def delta_pairs(platform: Platform) -> set[tuple[str, str]]:
    with platform.sessions() as session:
        return {(a, b) for a, b in session.execute(select(DeltaRow.from_tree, DeltaRow.to_tree))}


def test_the_sweep_forgets_the_deltas_of_the_trees_it_removes(
    platform: Platform, history: dict[str, str]
) -> None:
    with platform.sessions() as session:
        main = repo_of(session).resolve("main")
        main_delta = (repo_of(session).resolve("main~1").tree, main.tree)
    before = delta_pairs(platform)
    assert main_delta in before
    assert len(before) == 2  # main's second commit, and the deleted branch's commit
    collect_garbage(platform, grace=NOW)
    assert delta_pairs(platform) == {main_delta}
    with platform.sessions() as session:
        present = set(session.scalars(select(NodeRow.id)))
    assert {tree for pair in delta_pairs(platform) for tree in pair} <= present


def test_fsck_checks_every_recorded_delta_against_its_trees(
    platform: Platform, history: dict[str, str]
) -> None:
    report = check_integrity(platform)
    assert report.ok
    assert report.deltas == 1  # the deleted branch's delta is not reachable from a ref
    with platform.sessions.begin() as session:
        session.execute(update(DeltaRow).values(payload=encode_delta([])))
    assert any("does not match its trees" in p for p in check_integrity(platform).problems)
    with platform.sessions.begin() as session:
        session.execute(update(DeltaRow).values(payload=b"\0" * 40))
    assert any("fails its checksum" in p for p in check_integrity(platform).problems)
    with platform.sessions() as session:  # a diff meanwhile walks the trees and stays right
        changes = repo_of(session).diff("main~1", "main")
    assert [(c.path, c.kind.value) for c in changes] == [("old/b", "removed")]


def test_a_commit_racing_the_sweep_keeps_its_blob(platform: Platform, history: dict[str, str]) -> None:
    # GC marks first: the loose blob is unreachable and older than the cutoff ...
    with platform.sessions() as session:
        roots = vcs_queries.all_ref_commits(session)
        reachable = mark(SqlCommitStore(session, None), SqlNodeStore(session), roots)
    time.sleep(0.01)
    cutoff = utcnow()
    assert history["loose"] not in reachable.blobs
    # ... then a commit takes it, touching it inside its own transaction ...
    with platform.sessions.begin() as session:
        change = ChangeSet().put(Entry("late/x", history["loose"], 24))
        repo_of(session).commit("main", change, author="t", message="takes the loose blob")
    # ... so the sweep that follows, working from the stale mark, leaves it alone.
    with platform.sessions.begin() as session:
        swept = vcs_queries.sweep_blobs(session, reachable.blobs, cutoff)
    assert history["loose"] not in swept
    assert swept  # the same sweep did remove the doomed branch's blob
    assert platform.store.exists(blob_key(history["loose"]))  # type: ignore[arg-type]
    assert check_integrity(platform, deep=True).ok


def test_a_commit_after_the_sweep_fails_cleanly(platform: Platform, history: dict[str, str]) -> None:
    collect_garbage(platform, grace=NOW)
    change = ChangeSet().put(Entry("late/x", history["loose"], 24))
    with platform.sessions.begin() as session, pytest.raises(MissingBlobs):
        repo_of(session).commit("main", change, author="t", message="too late")
    assert check_integrity(platform).ok


def test_fsck_reports_missing_and_corrupt_blobs(platform: Platform, history: dict[str, str]) -> None:
    with platform.sessions() as session:
        entry = repo_of(session).stat("main", "kept/a")
    platform.store.put(blob_key(entry.blob), b"!" * entry.size)  # type: ignore[arg-type]
    quick = check_integrity(platform)
    assert quick.ok  # present at its size, and only --deep re-hashes
    deep = check_integrity(platform, deep=True)
    assert [p for p in deep.problems if "does not hash" in p]
    platform.store.put(blob_key(entry.blob), b"cut")  # type: ignore[arg-type]
    assert any(f"is 3 bytes, not {entry.size}" in p for p in check_integrity(platform).problems)
    platform.store.delete(blob_key(entry.blob))  # type: ignore[arg-type]
    missing = check_integrity(platform)
    assert any("is missing" in p and "kept/a" in p for p in missing.problems)
    assert b"".join(platform.store.get(blob_key(history["loose"]))) == b"uploaded-never-committed"  # type: ignore[arg-type]


def test_gc_forgets_abandoned_upload_sessions(platform: Platform, history: dict[str, str]) -> None:
    from imagehub.models.transport import UploadSession
    from imagehub.services import transport

    with platform.sessions.begin() as session:
        dataset = datasets.get(session, owner="lab", name="gc")
        upload = transport.start_upload(session, dataset=dataset, blob="c" * 64, size=10, actor="t")
        transport.append_chunk(
            session, platform, dataset=dataset, upload_id=upload.id, offset=0, chunk=b"12345"
        )
        upload.created_at = utcnow() - timedelta(days=3)
        upload_id = upload.id
    collect_garbage(platform, grace=timedelta(hours=1))  # started days ago, but a chunk came just now
    with platform.sessions.begin() as session:
        upload = session.get_one(UploadSession, upload_id)
        transport.append_chunk(session, platform, dataset=dataset, upload_id=upload_id, offset=5, chunk=b"67")
        upload.touched_at = utcnow() - timedelta(days=3)  # then the client went away for days
    assert list(platform.store.list(f"uploads/{upload_id}/"))
    collect_garbage(platform, grace=timedelta(hours=1))
    with platform.sessions() as session:
        assert session.get(UploadSession, upload_id) is None
    assert list(platform.store.list(f"uploads/{upload_id}/")) == []


def test_gc_removes_upload_objects_no_session_owns_once_days_old(platform: Platform) -> None:
    """A direct upload sent again after its session completed, or parts a crash left."""
    from imagehub.core.storage.local import FileStore
    from imagehub.services import transport

    store = platform.store
    assert isinstance(store, FileStore)
    with platform.sessions.begin() as session:
        datasets.create(session, owner="lab", name="gc", author="t")
        live = transport.start_upload(
            session, dataset=datasets.get(session, owner="lab", name="gc"), blob="d" * 64, size=10, actor="t"
        ).id
    old = (utcnow() - timedelta(days=3)).timestamp()
    for key in ("uploads/gone-session/direct", "uploads/recent-orphan/direct", f"uploads/{live}/0"):
        store.put(key, b"bytes")
        if key != "uploads/recent-orphan/direct":
            os.utime(store.root / key, (old, old))
    collect_garbage(platform, grace=timedelta(hours=1))
    left = sorted(info.key for info in store.list("uploads/"))
    assert left == sorted(["uploads/recent-orphan/direct", f"uploads/{live}/0"])


@pytest.fixture
def forgotten(platform: Platform) -> str:
    """A commit whose branch was deleted by mistake: only its id is left to find it by."""
    with platform.sessions.begin() as session:
        datasets.create(session, owner="lab", name="gc", author="t")
        repo_of(session).create_branch("exp", "main")
    commit = commit_files(platform, "lab", "gc", "exp", {"scan/a.dcm": b"precious scan"})
    with platform.sessions.begin() as session:
        repo_of(session).delete_ref("exp", RefKind.BRANCH)
    return commit.id


def during_mark(monkeypatch: pytest.MonkeyPatch, action: Callable[[], object]) -> None:
    """Run ``action`` right after gc's first mark, before it deletes anything."""
    real = maintenance.mark
    calls = iter(range(1_000))

    def mark_then_act(*args, **kwargs):  # type: ignore[no-untyped-def]
        reachable = real(*args, **kwargs)
        if next(calls) == 0:
            action()
        return reachable

    monkeypatch.setattr(maintenance, "mark", mark_then_act)


def test_a_branch_and_tag_made_from_an_old_commit_during_gc_keep_its_files(
    platform: Platform, forgotten: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def restore() -> None:
        with platform.sessions.begin() as session:
            repo_of(session).create_branch("exp", forgotten[:12])
            repo_of(session).create_tag("v-exp", forgotten[:12])

    during_mark(monkeypatch, restore)
    collect_garbage(platform, grace=NOW)
    assert stored(platform, b"precious scan")
    with platform.sessions() as session:
        assert [e.path for e in repo_of(session).list_objects("v-exp")] == ["scan/a.dcm"]
    assert check_integrity(platform, deep=True).ok


def test_a_merge_of_an_old_commit_during_gc_keeps_it_and_its_files(
    platform: Platform, forgotten: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def merge() -> None:
        with platform.sessions.begin() as session:
            repo_of(session).merge(forgotten, "main", author="t")

    during_mark(monkeypatch, merge)
    collect_garbage(platform, grace=NOW)
    assert stored(platform, b"precious scan")
    assert check_integrity(platform, deep=True).ok  # the merge's second parent is there too


def test_a_derived_dataset_made_during_gc_keeps_its_files(
    platform: Platform, forgotten: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def derive() -> None:
        with platform.sessions.begin() as session:
            source = datasets.get(session, owner="lab", name="gc")
            datasets.derive(session, source=source, ref=forgotten, owner="lab", name="subset", author="t")

    during_mark(monkeypatch, derive)
    collect_garbage(platform, grace=NOW)
    assert stored(platform, b"precious scan")
    assert check_integrity(platform, deep=True).ok


def test_building_on_a_commit_that_gc_removed_meanwhile_fails_cleanly(
    platform: Platform, forgotten: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The merge read the old commit before gc removed it, and writes after: it is refused
    instead of recording a commit whose parent and files are gone."""
    real = Repository._advance

    def collected_first(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        collect_garbage(platform, grace=NOW)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Repository, "_advance", collected_first)
    with pytest.raises(NotFound, match="garbage collection removed it"), platform.sessions.begin() as session:
        repo_of(session).merge(forgotten, "main", author="t")
    monkeypatch.undo()
    assert not stored(platform, b"precious scan")
    with platform.sessions() as session:
        assert repo_of(session).count("main") == 0
    assert check_integrity(platform, deep=True).ok


def test_a_reachable_blob_missing_from_the_index_is_kept(platform: Platform, history: dict[str, str]) -> None:
    with platform.sessions.begin() as session:
        session.execute(delete(BlobRow).where(BlobRow.id == sha256(b"kept-a").hexdigest()))
    collect_garbage(platform, grace=NOW)
    assert stored(platform, b"kept-a")


def test_content_stored_again_while_gc_deletes_bytes_is_kept(
    platform: Platform, history: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """gc has committed the sweep of the blob's row and is about to delete its bytes when a
    client pushes the same content again: the push finds the bytes in place and skips
    writing them, so gc must not take them a moment later."""
    real = maintenance._delete_if_stale
    pushed: list[str] = []

    def push_first(*args, **kwargs):  # type: ignore[no-untyped-def]
        if not pushed:
            pushed.append(commit_files(platform, "lab", "gc", "main", {"again/c": b"only-on-doomed"}).id)
        return real(*args, **kwargs)

    monkeypatch.setattr(maintenance, "_delete_if_stale", push_first)
    collect_garbage(platform, grace=NOW)
    assert pushed
    assert stored(platform, b"only-on-doomed")
    assert check_integrity(platform, deep=True).ok


def test_fsck_names_the_ref_of_a_missing_commit(platform: Platform, history: dict[str, str]) -> None:
    with platform.sessions() as session:
        head = repo_of(session).resolve("main").id
    with platform.engine.begin() as conn:
        conn.execute(delete(vcs_queries.CommitRow).where(vcs_queries.CommitRow.id == head))
    report = check_integrity(platform)
    assert f"commit {head} is missing, but lab/gc branch main names it" in report.problems


def derived_objects(platform: Platform) -> set[str]:
    return {info.key for prefix, _ in maintenance.DERIVED for info in platform.store.list(prefix)}


def test_gc_removes_what_the_pipeline_derived_from_removed_commits(platform: Platform) -> None:
    """Series thumbnails and volumes (named by series rows), instance thumbnails and PHI-gate
    results (named by blob): a dry run counts those of the removed branch and deletes nothing;
    gc deletes them and keeps those that main still names."""
    with platform.sessions.begin() as session:
        datasets.create(session, owner="lab", name="gc", author="t")
    ct = Path(get_testdata_file("CT_small.dcm")).read_bytes()
    kept = commit_files(platform, "lab", "gc", "main", {"ct.dcm": ct})
    with platform.sessions.begin() as session:
        repo_of(session).create_branch("raw", "main")
    mr = Path(get_testdata_file("MR_small.dcm")).read_bytes()
    gone = commit_files(platform, "lab", "gc", "raw", {"mr.dcm": mr})
    for commit in (kept, gone):
        ref = imaging.resolve_commit(platform, "lab/gc", commit.id)
        imaging.index_metadata(platform, LocalExecutor(), ref)
        imaging.render_series_thumbnails(platform, LocalExecutor(), ref)
        phi_gate.verify_commit(platform, LocalExecutor(), ref)
        with platform.sessions() as session:
            repo = repo_of(session)
            entries = list(repo.tree.iterate(repo.resolve(commit.id).tree))
        for entry in entries:
            imaging.instance_thumbnail_png(platform, entry, 64)

    def thumbnails(commit_id: str) -> set[str]:
        with platform.sessions() as session:
            rows = session.scalars(select(SeriesRow).where(SeriesRow.commit_id == commit_id))
            return {row.thumbnail_key for row in rows if row.thumbnail_key}

    kept_images, gone_images = thumbnails(kept.id), thumbnails(gone.id)
    assert len(gone_images - kept_images) == 1  # the raw branch's MR; its CT is shared with main
    before = derived_objects(platform)
    of_mr = {key for key in before if sha256(mr).hexdigest() in key}
    assert {prefix for prefix, _ in maintenance.DERIVED if any(k.startswith(prefix) for k in of_mr)} == {
        "derived/instance-thumbnails/",
        "derived/phi-scans/",
    }
    doomed = (gone_images - kept_images) | of_mr
    with platform.sessions.begin() as session:
        repo_of(session).delete_ref("raw", RefKind.BRANCH)
    assert collect_garbage(platform, grace=timedelta(hours=1), dry_run=True).deleted_derived == 0
    dry = collect_garbage(platform, grace=NOW, dry_run=True)
    assert dry.deleted_derived == len(doomed)
    assert dry.derived_bytes == sum(platform.store.stat(key).size for key in doomed)
    assert derived_objects(platform) == before  # the dry run deleted nothing
    report = collect_garbage(platform, grace=NOW)
    assert (report.deleted_derived, report.derived_bytes) == (dry.deleted_derived, dry.derived_bytes)
    assert derived_objects(platform) == before - doomed
    assert thumbnails(gone.id) == set()
    assert thumbnails(kept.id) == kept_images
    with platform.sessions() as session:
        assert set(session.scalars(select(ImagingFile.blob))) == {sha256(ct).hexdigest()}
