"""Criss-cross merges (each side merged the other) have two best common ancestors: the
merge builds its base from both, as git does, so neither side's later change is lost."""

from __future__ import annotations

from imagehub.core.vcs import BlobId, ChangeSet, Entry, Repository
from imagehub.core.vcs.commits import merge_base, merge_bases
from tests.support.memory_stores import CountingCommits, repository_holding

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


def test_three_best_ancestors_merge_each_on_those_merged_before_it() -> None:
    """Two of three bases share an ancestor the third lacks: git merges the third base on
    the bases it shares with the other two together, not with the newest alone."""
    v0, v1, v2, r, q = (BlobId(c * 64) for c in "01234")
    repo = repository_holding(*((b, 1) for b in (v0, v1, v2, r, q)))
    put(repo, "main", p=v0)
    repo.create_branch("b1", "main")
    repo.create_branch("x", "main")
    put(repo, "b1", r=r)
    put(repo, "b1", r=q)
    b1 = put(repo, "b1", r=r)  # the newest base, which never touches p
    put(repo, "x", p=v1)
    repo.create_branch("b2", "x")
    repo.create_branch("b3", "x")
    b2 = put(repo, "b2", p=v2)
    b3 = put(repo, "b3", q=q)
    repo.create_branch("h1", b1)
    repo.merge(b2, "h1", author="t")
    repo.merge(b3, "h1", author="t")
    repo.create_branch("h2", b3)
    repo.merge(b1, "h2", author="t")
    repo.merge(b2, "h2", author="t")
    assert sorted(merge_bases(repo.stores.commits, repo.resolve("h1").id, repo.resolve("h2").id)) == sorted(
        [b1, b2, b3]
    )
    put(repo, "h1", p=v0)  # h1 puts p back as it first was; h2 leaves it
    merged = repo.merge("h2", "h1", author="t")
    assert contents(repo, merged.id)["p"] == v0  # as git merges the same history


def test_the_newest_base_is_found_without_walking_the_rest_of_history() -> None:
    """An ancestry test (the PHI gate asks one on every read by tag) stops at the first
    common ancestor, however long the history below it, even when an old branch merged in
    later keeps the walk's other side alive."""
    store = CountingCommits()
    root = store.make()
    old_side = store.make(root)
    fork = store.line(root, 500)[-1]
    main = store.make(store.make(fork), old_side)
    feature = store.make(fork)
    assert merge_base(store, main, feature) == fork
    assert store.lookups < 10
