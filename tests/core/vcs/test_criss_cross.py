"""Criss-cross merges (each side merged the other) have two best common ancestors: the
merge builds its base from both, as git does, so neither side's later change is lost."""

from __future__ import annotations

from imagehub.core.vcs import BlobId, ChangeSet, Entry, Repository
from imagehub.core.vcs.commits import merge_bases
from tests.support.memory_stores import repository_holding

ORIG, A, B = (BlobId(c * 64) for c in "abc")


def put(repo: Repository, branch: str, **files: BlobId) -> str:
    changes = ChangeSet()
    for path, blob in files.items():
        changes.put(Entry(path, blob, 1))
    return repo.commit(branch, changes, author="t", message="m").id


def contents(repo: Repository, ref: str) -> dict[str, str]:
    return {e.path: e.blob for e in repo.list_objects(ref)}


def test_a_change_made_after_a_criss_cross_is_kept() -> None:
    repo = repository_holding((ORIG, 1), (A, 1), (B, 1))
    put(repo, "main", f=ORIG, g=ORIG)
    repo.create_branch("side", "main")
    a1 = put(repo, "main", f=A)
    b1 = put(repo, "side", g=B)
    repo.merge(b1, "main", author="t")
    repo.merge(a1, "side", author="t")
    put(repo, "main", f=ORIG)  # each side then puts one file back as it was
    put(repo, "side", g=ORIG)
    assert sorted(
        merge_bases(repo.stores.commits, repo.resolve("main").id, repo.resolve("side").id)
    ) == sorted([a1, b1])
    merged = repo.merge("side", "main", author="t")
    assert contents(repo, merged.id) == {"f": ORIG, "g": ORIG}  # git agrees; one base alone gives f=A


def test_one_best_ancestor_is_found_alone() -> None:
    repo = repository_holding((ORIG, 1), (A, 1))
    base = put(repo, "main", f=ORIG)
    repo.create_branch("side", "main")
    put(repo, "main", f=A)
    put(repo, "side", g=A)
    assert merge_bases(repo.stores.commits, repo.resolve("main").id, repo.resolve("side").id) == [base]
