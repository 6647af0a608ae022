"""The versioning engine's front object: one dataset's refs, commits and manifests.

Assembled from narrow stores (refs, commits, nodes, blob index) so the same logic runs
over the database in production and over fakes in tests. Every method assumes that
the caller holds one transaction around it: a failure anywhere leaves nothing behind.
The operations map one to one onto lakeFS's (repository, branch, commit, ref, object,
diff, merge), so a lakeFS-backed implementation can stand in for this one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice

from imagehub.core.errors import Conflict, InvalidInput, NotFound
from imagehub.core.hashing import canonical_json
from imagehub.core.vcs.blobs import BlobIndex
from imagehub.core.vcs.changes import ChangeSet, prefix_range
from imagehub.core.vcs.commits import (
    CommitStore,
    get_commit,
    merge_base,
    merge_bases,
    merge_bases_of_many,
    walk_history,
)
from imagehub.core.vcs.deltas import DeltaStore, Differ, encode_delta
from imagehub.core.vcs.diff import diff_trees
from imagehub.core.vcs.merge import MergeStrategy, PathConflict, find_conflicts, merge_trees
from imagehub.core.vcs.nodes import EMPTY_TREE_ID, NodeReader, NodeStore
from imagehub.core.vcs.refs import (
    COMMITTED,
    MIN_COMMIT_PREFIX,
    Ref,
    RefConflict,
    RefKind,
    RefStore,
    parse_ref_expression,
    validate_ref_name,
)
from imagehub.core.vcs.tree import Edit, NodeWriter, Tree
from imagehub.core.vcs.types import BlobId, Change, Commit, CommitId, Entry, NodeId, is_full_id

MAX_PAGE = 10_000
COMMIT_ATTEMPTS = 5  # a write naming no head to build on, applied again after losing a race
MAX_LINE = 32  # commits a diff or merge follows (one lookup each) to compose recorded deltas


class MissingBlobs(Conflict):
    """A change set names blobs that were never uploaded."""

    def __init__(self, blobs: set[BlobId]) -> None:
        sample = ", ".join(sorted(blobs)[:3])
        super().__init__(f"{len(blobs)} blob(s) not uploaded: {sample}")
        self.blobs = blobs

    def details(self) -> dict[str, object]:
        return {"missing": sorted(self.blobs)}


class BranchMoved(Conflict):
    """The branch no longer points where the writer expected."""


class ProtectedBranch(Conflict):
    """Direct commits to a protected branch are refused (merge into it instead), and so is
    deleting it or the default branch."""


@dataclass(frozen=True)
class Stores:
    refs: RefStore
    commits: CommitStore
    nodes: NodeStore
    blobs: BlobIndex
    deltas: DeltaStore


def _until_landed(attempt: Callable[[], Commit]) -> Commit:
    """``attempt`` again, a few times, while another writer moves the branch first: for
    writes whose caller named no head to build on."""
    for tries in range(1, COMMIT_ATTEMPTS + 1):
        try:
            return attempt()
        except BranchMoved:
            if tries == COMMIT_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def _now() -> datetime:
    return datetime.now(UTC)


def _is_commit_prefix(value: str) -> bool:
    return MIN_COMMIT_PREFIX <= len(value) <= 64 and all(c in "0123456789abcdef" for c in value)


def _page_limit(limit: int) -> int:
    if not 0 < limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}")
    return limit


class Repository:
    def __init__(self, stores: Stores, *, clock: Callable[[], datetime] = _now) -> None:
        self.stores = stores
        self.reader = NodeReader(stores.nodes)
        self.tree = Tree(self.reader)
        self.differ = Differ(self.reader, stores.deltas)
        self.clock = clock

    # -- resolving ----------------------------------------------------------------------
    def resolve(self, expression: str) -> Commit:
        """A branch, a tag or a commit id (7+ hex digits), optionally with ``~n`` / ``^n``;
        or a branch with ``@`` (lakeFS's committed state of a branch: here, its head)."""
        base, steps = parse_ref_expression(expression)
        if base.endswith(COMMITTED):
            return self._committed_head(base.removesuffix(COMMITTED), expression)
        commit = get_commit(self.stores.commits, self._resolve_base(base))
        for op, n in steps:
            if op == "~":
                for _ in range(n):
                    commit = self._parent(commit, 1, expression)
            else:
                commit = self._parent(commit, n, expression)
        return commit

    def _resolve_base(self, name: str) -> CommitId:
        if is_full_id(name) and self.stores.commits.find_prefix(name, limit=1):
            return CommitId(name)  # a whole commit id is that commit, whatever a ref is named
        for kind in (RefKind.BRANCH, RefKind.TAG):
            ref = self.stores.refs.get(name, kind)
            if ref is not None:
                return ref.commit
        if _is_commit_prefix(name):
            found = self.stores.commits.find_prefix(name, limit=2)
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                raise InvalidInput(f"commit prefix {name!r} is ambiguous")
        raise NotFound(f"no branch, tag or commit named {name!r}")

    def _committed_head(self, branch: str, expression: str) -> Commit:
        ref = self.stores.refs.get(branch, RefKind.BRANCH)
        if ref is None:
            self._resolve_base(branch)  # not found (404) when nothing bears the name
            raise InvalidInput(f"invalid ref {expression!r}: '@' follows a branch name only")
        return get_commit(self.stores.commits, ref.commit)

    def _parent(self, commit: Commit, number: int, expression: str) -> Commit:
        if number < 1 or number > len(commit.parents):
            raise NotFound(f"{expression!r}: commit {commit.id[:12]} has no parent {number}")
        return get_commit(self.stores.commits, commit.parents[number - 1])

    def get_ref(self, name: str, kind: RefKind) -> Ref:
        ref = self.stores.refs.get(name, kind)
        if ref is None:
            raise NotFound(f"{kind.value} {name!r} not found")
        return ref

    # -- branches and tags --------------------------------------------------------------
    def init(self, default_branch: str, *, author: str) -> Commit:
        """The first, empty commit of a new repository and its default branch."""
        commit = self._make_commit(EMPTY_TREE_ID, (), author=author, message="Initial commit", metadata={})
        self.stores.commits.add(commit)
        self._create_ref(Ref(validate_ref_name(default_branch, RefKind.BRANCH), RefKind.BRANCH, commit.id))
        return commit

    def create_branch(self, name: str, source: str) -> Ref:
        """A new branch at any ref: O(1), nothing is copied."""
        validate_ref_name(name, RefKind.BRANCH)
        ref = Ref(name, RefKind.BRANCH, self.resolve(source).id, created_at=self.clock())
        self._create_ref(ref)
        return ref

    def create_tag(self, name: str, target: str, message: str = "") -> Ref:
        """Tags are immutable: created once, never moved."""
        validate_ref_name(name, RefKind.TAG)
        ref = Ref(name, RefKind.TAG, self.resolve(target).id, message=message, created_at=self.clock())
        self._create_ref(ref)
        return ref

    def _create_ref(self, ref: Ref) -> None:
        other = RefKind.TAG if ref.kind is RefKind.BRANCH else RefKind.BRANCH
        if self.stores.refs.get(ref.name, other) is not None:
            raise Conflict(f"a {other.value} named {ref.name!r} already exists")
        try:
            self.stores.refs.create(ref)
        except RefConflict:  # made meanwhile, maybe as the other kind (the store keeps one namespace)
            taken = other if self.stores.refs.get(ref.name, other) is not None else ref.kind
            raise Conflict(f"{taken.value} {ref.name!r} already exists") from None
        self.stores.commits.hold([ref.commit])  # any commit, however old: gc may be removing it

    def delete_ref(self, name: str, kind: RefKind, *, default_branch: str | None = None) -> None:
        ref = self.get_ref(name, kind)
        if kind is RefKind.BRANCH and (name == default_branch or ref.protected):
            why = "the default branch" if name == default_branch else "protected"
            raise ProtectedBranch(f"branch {name!r} is {why} and cannot be deleted")
        self.stores.refs.delete(name, kind)

    def list_refs(self, kind: RefKind, *, prefix: str = "", after: str = "", limit: int = 100) -> list[Ref]:
        return self.stores.refs.list(kind, prefix=prefix, after=after, limit=_page_limit(limit))

    def set_protected(self, branch: str, protected: bool) -> Ref:
        self.get_ref(branch, RefKind.BRANCH)
        self.stores.refs.set_protected(branch, protected)
        return self.get_ref(branch, RefKind.BRANCH)

    # -- writing ------------------------------------------------------------------------
    def commit(
        self,
        branch: str,
        changes: ChangeSet,
        *,
        author: str,
        message: str,
        metadata: dict[str, str] | None = None,
        expected_parent: str | None = None,
        allow_empty: bool = False,
    ) -> Commit:
        """Apply a change set to a branch as one new commit. Without ``expected_parent`` the
        caller accepts whatever head the branch has, so a commit that lost a race to another
        writer is applied again on the new head (a few times) instead of failing."""
        if expected_parent is not None and not _is_commit_prefix(expected_parent):
            raise InvalidInput(
                f"expected_parent must be {MIN_COMMIT_PREFIX} to 64 lowercase hex digits of a commit id"
            )

        def once() -> Commit:
            return self._commit_once(branch, changes, author, message, metadata, expected_parent, allow_empty)

        return once() if expected_parent is not None else _until_landed(once)

    def commit_planned(
        self, branch: str, plan: Callable[[Commit], tuple[ChangeSet, str] | None], *, author: str
    ) -> Commit | None:
        """A commit whose changes depend on what the branch holds (a duplicate check, say):
        ``plan`` gets the head and answers the changes and their message (or None: nothing
        to do), and they land on that head only; if another writer moved the branch
        meanwhile, they are planned again on the new head."""
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            head = get_commit(self.stores.commits, self.get_ref(branch, RefKind.BRANCH).commit)
            planned = plan(head)
            if planned is None:
                return None
            changes, message = planned
            try:
                return self.commit(branch, changes, author=author, message=message, expected_parent=head.id)
            except BranchMoved:
                if attempt == COMMIT_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def _commit_once(
        self,
        branch: str,
        changes: ChangeSet,
        author: str,
        message: str,
        metadata: dict[str, str] | None,
        expected_parent: str | None,
        allow_empty: bool,
    ) -> Commit:
        ref = self.get_ref(branch, RefKind.BRANCH)
        if ref.protected:
            raise ProtectedBranch(f"branch {branch!r} is protected: open a change proposal and merge instead")
        if expected_parent is not None and not ref.commit.startswith(expected_parent):
            raise BranchMoved(
                f"branch {branch!r} is at {ref.commit[:12]}, not {expected_parent[:12]}: pull and retry"
            )
        if not changes and not allow_empty:
            raise InvalidInput("nothing to commit: the change set is empty")
        head = get_commit(self.stores.commits, ref.commit)
        edits = self._edits(head.tree, changes)
        wanted = {BlobId(entry.blob) for entry in changes.puts.values()}
        sizes = self.stores.blobs.touch(wanted)
        if missing := wanted - sizes.keys():
            raise MissingBlobs(missing)
        _check_sizes(changes, sizes)
        writer = NodeWriter()
        tree = self.tree.apply(head.tree, edits, writer)
        if tree == head.tree and not allow_empty:
            raise InvalidInput("nothing to commit: the changes leave the manifest as it was")
        self._refuse_file_folder_clashes(head.tree, dict(edits), writer.deltas.get((head.tree, tree)))
        return self._advance(ref, writer, tree, (head.id,), author, message, metadata or {})

    def _refuse_merged_clashes(
        self, before: NodeId, after: NodeId, writer: NodeWriter, edits: Sequence[Edit]
    ) -> None:
        """A merge or revert that combined the two sides onto ``before`` (a fast-forward takes
        a tree as it was) is held to what a commit is: no path both a file and a folder.
        Edits too many to record as a delta are checked as they are, like a commit's."""
        recorded = writer.deltas.get((before, after))
        if recorded is not None:
            self._refuse_file_folder_clashes(before, {c.path: c.right for c in recorded}, recorded)
        elif edits:
            self._refuse_file_folder_clashes(before, dict(edits), None)

    def _refuse_file_folder_clashes(
        self, head: NodeId, edits: Mapping[str, object], recorded: list[Change] | None
    ) -> None:
        """No path may be both a file and a folder (``n`` and ``n/x``): no checkout could hold
        the version. The head holds no such pair, so only new files can make one: the
        changes the edit recorded say which are new (without a record, every file put is
        taken as new). Each folder they need is looked up once. Files below a new file are
        looked for only where the head has files in the new file's folder: a bulk load into
        new folders costs one lookup per folder, not one per file."""
        if recorded is not None:
            new = [change.path for change in recorded if change.left is None]
        else:
            new = [path for path, entry in edits.items() if entry is not None]
        folders = _folders(new)

        def is_file(path: str) -> bool:
            return edits[path] is not None if path in edits else self.tree.get(head, path) is not None

        clash = sorted(folder for folder in folders if is_file(folder))
        if not clash:
            occupied = self._occupied(head, folders)
            clash = [
                path
                for path in new
                if path in folders
                or (
                    _folder_of(path) in occupied
                    and any(edits.get(below.path, below) is not None for below in self._below(head, path))
                )
            ]
        if clash:
            raise InvalidInput(f"{clash[0]!r} would be both a file and a folder: rename one of them")

    def _occupied(self, head: NodeId, folders: set[str]) -> set[str]:
        """Those of ``folders`` (and the top, ``""``) under which the head holds a file. A
        folder under an empty one is empty too, so parents are looked at first (they sort
        first) and only the insides of occupied folders are looked into."""
        occupied = {""}
        for folder in sorted(folders):
            if _folder_of(folder) in occupied and next(self._below(head, folder), None) is not None:
                occupied.add(folder)
        return occupied

    def _below(self, tree: NodeId, path: str) -> Iterator[Entry]:
        return self.tree.iterate(tree, *prefix_range(path + "/"))

    def _edits(self, tree: NodeId, changes: ChangeSet) -> list[Edit]:
        edits: dict[str, Entry | None] = {}
        for prefix in changes.delete_prefixes:
            start, end = prefix_range(prefix)
            for entry in self.tree.iterate(tree, start, end):
                edits[entry.path] = None
        for path in changes.deletes:
            edits[path] = None
        edits.update((path, _as_stored(entry)) for path, entry in changes.puts.items())
        return sorted(edits.items(), key=lambda kv: kv[0])

    def _make_commit(
        self,
        tree: NodeId,
        parents: tuple[CommitId, ...],
        *,
        author: str,
        message: str,
        metadata: dict[str, str],
    ) -> Commit:
        created = self.clock()
        commit_id = Commit.compute_id(
            tree=tree, parents=parents, author=author, message=message, created_at=created, metadata=metadata
        )
        generation = 1
        if parents:
            generation = 1 + max(c.generation for c in self.stores.commits.get_many(parents).values())
        return Commit(commit_id, tree, parents, author, message, created, metadata, generation)

    def _advance(
        self,
        ref: Ref,
        writer: NodeWriter,
        tree: NodeId,
        parents: tuple[CommitId, ...],
        author: str,
        message: str,
        metadata: dict[str, str],
    ) -> Commit:
        """Persist nodes, deltas and the commit, then move the branch by compare-and-swap."""
        if writer.created:
            self.stores.nodes.put_many(writer.created)
        if writer.deltas:
            self.stores.deltas.put_many({key: encode_delta(c) for key, c in writer.deltas.items()})
        commit = self._make_commit(tree, parents, author=author, message=message, metadata=metadata)
        self.stores.commits.add(commit)
        self.stores.commits.hold(parents)  # a merged commit may be one that gc is removing
        try:
            self.stores.refs.compare_and_swap(ref.name, ref.commit, commit.id)
        except RefConflict:
            raise BranchMoved(f"branch {ref.name!r} moved while committing: pull and retry") from None
        return commit

    def merge_base(self, left: str, right: str) -> CommitId:
        """The newest commit both refs hold in their history."""
        base = merge_base(self.stores.commits, self.resolve(left).id, self.resolve(right).id)
        if base is None:
            raise InvalidInput(f"{left!r} and {right!r} share no history")
        return base

    def merge(
        self,
        source: str,
        destination: str,
        *,
        author: str,
        message: str = "",
        strategy: MergeStrategy = MergeStrategy.FAIL,
        metadata: dict[str, str] | None = None,
        through_proposal: bool = False,
    ) -> Commit:
        """Three-way merge of ``source`` into branch ``destination`` on their merge base; a
        protected destination takes merges only from a reviewed change proposal."""
        if self.get_ref(destination, RefKind.BRANCH).protected and not through_proposal:
            raise ProtectedBranch(f"branch {destination!r} is protected: open a change proposal and merge it")
        theirs = self.resolve(source)
        text = message or f"Merge {source} into {destination}"
        # The caller names no head to merge into: one that moved meanwhile is merged into anew.
        return _until_landed(
            lambda: self._merge_once(source, theirs, destination, author, text, strategy, metadata or {})
        )

    def _merge_once(
        self,
        source: str,
        theirs: Commit,
        destination: str,
        author: str,
        text: str,
        strategy: MergeStrategy,
        metadata: dict[str, str],
    ) -> Commit:
        ref = self.get_ref(destination, RefKind.BRANCH)
        ours = get_commit(self.stores.commits, ref.commit)
        bases = merge_bases(self.stores.commits, ours.id, theirs.id)
        if bases == [theirs.id]:
            raise InvalidInput(f"{destination!r} already contains {source!r}: nothing to merge")
        base, ours_via, theirs_via = self._merge_sides(bases, ours, theirs)
        writer = NodeWriter()
        tree, edits = merge_trees(
            self.differ,
            base=base,
            ours=ours.tree,
            theirs=theirs.tree,
            strategy=strategy,
            writer=writer,
            ours_via=ours_via,
            theirs_via=theirs_via,
        )
        self._refuse_merged_clashes(ours.tree, tree, writer, edits)
        return self._advance(ref, writer, tree, (ours.id, theirs.id), author, text, metadata)

    def merge_conflicts(self, source: str, destination: str) -> list[PathConflict]:
        """The paths a ``fail`` merge of ``source`` into ``destination`` would stop on now,
        found as the merge finds them; nothing is committed."""
        theirs = self.resolve(source)
        ours = get_commit(self.stores.commits, self.get_ref(destination, RefKind.BRANCH).commit)
        bases = merge_bases(self.stores.commits, ours.id, theirs.id)
        if bases == [theirs.id]:
            return []
        base, ours_via, theirs_via = self._merge_sides(bases, ours, theirs)
        return find_conflicts(
            self.differ,
            base=base,
            ours=ours.tree,
            theirs=theirs.tree,
            ours_via=ours_via,
            theirs_via=theirs_via,
        )

    def _merge_sides(
        self, bases: list[CommitId], ours: Commit, theirs: Commit
    ) -> tuple[NodeId, list[NodeId], list[NodeId]]:
        """The tree a merge combines both sides on, and each side's line of trees from it
        (so that recorded deltas serve the diffs)."""
        if len(bases) != 1:
            return self._virtual_base(bases), [], []
        base = get_commit(self.stores.commits, bases[0])
        return base.tree, self._line(base, ours), self._line(base, theirs)

    def _virtual_base(self, bases: list[CommitId]) -> NodeId:
        """The base of a criss-cross merge, as git builds it: the best common ancestors
        merged together one by one, each on its best common ancestors with all of those
        merged before it, recursively; a path they disagree on keeps the older version, so
        that the real merge sees both sides' changes to it. The tree is stored at once (the
        merge reads it); nothing refers to it, and gc removes it."""
        if not bases:
            return EMPTY_TREE_ID
        tree = get_commit(self.stores.commits, bases[0]).tree
        for done, other_id in enumerate(bases[1:], start=1):
            other = get_commit(self.stores.commits, other_id)
            writer = NodeWriter()
            tree, _ = merge_trees(
                self.differ,
                base=self._virtual_base(merge_bases_of_many(self.stores.commits, bases[:done], other.id)),
                ours=tree,
                theirs=other.tree,
                strategy=MergeStrategy.FAIL,
                writer=writer,
                conflicts_keep_base=True,
            )
            if writer.created:
                self.stores.nodes.put_many(writer.created)
        return tree

    def merge_foreign(
        self,
        destination: str,
        *,
        base_tree: NodeId,
        theirs_tree: NodeId,
        author: str,
        message: str,
        strategy: MergeStrategy = MergeStrategy.FAIL,
        metadata: dict[str, str] | None = None,
        through_proposal: bool = False,
    ) -> Commit:
        """Three-way merge of changes made outside this repository's history (a derived
        dataset's work from ``base_tree`` to ``theirs_tree``) into branch ``destination``.

        Manifests are shared between repositories but commits are not, so the result has
        one parent; ``metadata`` says where the changes came from.
        """
        if self.get_ref(destination, RefKind.BRANCH).protected and not through_proposal:
            raise ProtectedBranch(f"branch {destination!r} is protected: open a change proposal and merge it")

        def once() -> Commit:
            ref = self.get_ref(destination, RefKind.BRANCH)
            ours = get_commit(self.stores.commits, ref.commit)
            writer = NodeWriter()
            tree, edits = merge_trees(
                self.differ,
                base=base_tree,
                ours=ours.tree,
                theirs=theirs_tree,
                strategy=strategy,
                writer=writer,
            )
            if tree == ours.tree:
                raise InvalidInput(f"{destination!r} already has these changes: nothing to merge")
            self._refuse_merged_clashes(ours.tree, tree, writer, edits)
            return self._advance(ref, writer, tree, (ours.id,), author, message, metadata or {})

        return _until_landed(once)

    def foreign_merge_conflicts(
        self, destination: str, *, base_tree: NodeId, theirs_tree: NodeId
    ) -> list[PathConflict]:
        """The paths a ``fail`` ``merge_foreign`` would stop on now; nothing is committed."""
        ours = get_commit(self.stores.commits, self.get_ref(destination, RefKind.BRANCH).commit)
        return find_conflicts(self.differ, base=base_tree, ours=ours.tree, theirs=theirs_tree)

    def revert(self, branch: str, target: str, *, author: str, parent_number: int = 1) -> Commit:
        """Undo one commit's changes on a branch, as a new commit (three-way, so later work
        stays; a branch that moved meanwhile is reverted on anew)."""
        if self.get_ref(branch, RefKind.BRANCH).protected:
            raise ProtectedBranch(f"branch {branch!r} is protected: revert through a change proposal")
        reverted = self.resolve(target)
        if not reverted.parents:
            raise InvalidInput(f"commit {reverted.id[:12]} has no parent to revert to")
        parent = self._parent(reverted, parent_number, target)
        return _until_landed(lambda: self._revert_once(branch, reverted, parent, author))

    def _revert_once(self, branch: str, reverted: Commit, parent: Commit, author: str) -> Commit:
        ref = self.get_ref(branch, RefKind.BRANCH)
        head = get_commit(self.stores.commits, ref.commit)
        writer = NodeWriter()
        tree, edits = merge_trees(
            self.differ,
            base=reverted.tree,
            ours=head.tree,
            theirs=parent.tree,
            strategy=MergeStrategy.FAIL,
            writer=writer,
            ours_via=self._line(reverted, head),
        )
        if tree == head.tree:
            raise InvalidInput(
                f"nothing to revert: {branch!r} already lacks the changes of {reverted.id[:12]}"
            )
        message = f'Revert "{reverted.message.splitlines()[0] if reverted.message else reverted.id[:12]}"'
        metadata: dict[str, str] = {"reverts": reverted.id}
        self._refuse_merged_clashes(head.tree, tree, writer, edits)
        return self._advance(ref, writer, tree, (head.id,), author, message, metadata)

    def commit_tree(
        self, branch: str, tree: NodeId, *, author: str, message: str, metadata: dict[str, str]
    ) -> Commit:
        """Point ``branch`` at a new commit whose manifest is an existing tree (zero-copy)."""
        ref = self.get_ref(branch, RefKind.BRANCH)
        return self._advance(ref, NodeWriter(), tree, (ref.commit,), author, message, metadata)

    def build_tree(self, entries: Iterator[Entry]) -> tuple[NodeId, dict[NodeId, bytes]]:
        """A manifest of the given entries (sorted by path), for curated subsets."""
        writer = NodeWriter()
        root = self.tree.apply(EMPTY_TREE_ID, [(e.path, e) for e in entries], writer)
        self.stores.nodes.put_many(writer.created)
        return root, writer.created

    # -- reading ------------------------------------------------------------------------
    def stat(self, ref: str, path: str) -> Entry:
        entry = self.tree.get(self.resolve(ref).tree, path)
        if entry is None:
            raise NotFound(f"no path {path!r} at {ref!r}")
        return entry

    def list_objects(self, ref: str, *, prefix: str = "", after: str = "", limit: int = 1000) -> list[Entry]:
        """One page of paths under ``prefix``, strictly after ``after``, in path order."""
        start, end = prefix_range(prefix)
        if after:
            start = max(start, after + "\x00")
        entries = self.tree.iterate(self.resolve(ref).tree, start, end)
        return list(islice(entries, _page_limit(limit)))

    def count(self, ref: str) -> int:
        return self.tree.count(self.resolve(ref).tree)

    def diff(
        self, left: str, right: str, *, prefix: str = "", after: str = "", limit: int = 1000
    ) -> list[Change]:
        start, end = prefix_range(prefix)
        if after:
            start = max(start, after + "\x00")
        changes = self.changes(self.resolve(left), self.resolve(right), start, end)
        return list(islice(changes, _page_limit(limit)))

    def changes(self, old: Commit, new: Commit, start: str = "", end: str | None = None) -> Iterator[Change]:
        """Changes from commit ``old`` to commit ``new`` with ``start <= path < end``, in path
        order: composed from recorded deltas when one lies on the other's first-parent line."""
        via = self._line(old, new) if old.generation <= new.generation else self._line(new, old)[::-1]
        return self.differ.diff(old.tree, new.tree, start, end, via=via)

    def _line(self, older: Commit, newer: Commit) -> list[NodeId]:
        """The trees of the commits strictly between ``older`` and ``newer`` on newer's
        first-parent line, oldest first, when older lies on it within ``MAX_LINE``
        commits; else none (a diff then reads a delta between the two, or walks trees)."""
        if not 0 < newer.generation - older.generation <= MAX_LINE:
            return []
        trees: list[NodeId] = []
        commit = newer
        while commit.parents and commit.generation > older.generation:
            commit = get_commit(self.stores.commits, commit.parents[0])
            trees.append(commit.tree)
        return trees[-2::-1] if commit.id == older.id else []

    def log(
        self,
        ref: str,
        *,
        path: str = "",
        after: str = "",
        limit: int = 100,
        objects: Sequence[str] = (),
        prefixes: Sequence[str] = (),
    ) -> list[Commit]:
        """Commits reachable from ``ref``, newest first. With ``path``, only those that changed
        it or anything in the folder it names; with ``objects`` and ``prefixes`` (as lakeFS
        filters), those that changed one of these exact paths or a path starting with one
        of these strings."""
        _page_limit(limit)
        history = walk_history(self.stores.commits, self.resolve(ref).id)
        if after:
            history = _skip_through(history, after)
        if path:
            objects, prefixes = [*objects, path], [*prefixes, path.rstrip("/") + "/"]
        if objects or prefixes:
            history = (c for c in history if self._touches(c, objects, prefixes))
        return list(islice(history, limit))

    def _touches(self, commit: Commit, objects: Sequence[str], prefixes: Sequence[str]) -> bool:
        """Whether the commit changed one of ``objects``, or a path starting with one of
        ``prefixes``, from its first parent."""
        parent_tree = (
            get_commit(self.stores.commits, commit.parents[0]).tree if commit.parents else EMPTY_TREE_ID
        )
        recorded = self.differ.recorded(parent_tree, commit.tree)
        if recorded is not None:
            return any(c.path in objects or c.path.startswith(tuple(prefixes)) for c in recorded)
        if any(self.tree.get(parent_tree, p) != self.tree.get(commit.tree, p) for p in objects):
            return True
        for prefix in prefixes:
            start, end = prefix_range(prefix)
            changes = diff_trees(self.reader, parent_tree, commit.tree, start, end, eager=False)
            if next(changes, None) is not None:
                return True
        return False


def _folder_of(path: str) -> str:
    """``a/b`` for ``a/b/c``; ``""`` for a path at the top."""
    return path.rsplit("/", 1)[0] if "/" in path else ""


def _folders(paths: Iterable[str]) -> set[str]:
    """Every folder the paths lie in: ``a`` and ``a/b`` for ``a/b/c``."""
    folders = {path.rsplit("/", 1)[0] for path in paths if "/" in path}
    frontier = folders
    while frontier:
        frontier = {folder.rsplit("/", 1)[0] for folder in frontier if "/" in folder} - folders
        folders |= frontier
    return folders


def _check_sizes(changes: ChangeSet, sizes: dict[BlobId, int]) -> None:
    """An entry's size is its blob's: a wrong one would make every download of it end early
    or run short of what the response announced."""
    wrong = sorted(path for path, entry in changes.puts.items() if sizes[BlobId(entry.blob)] != entry.size)
    if wrong:
        entry = changes.puts[wrong[0]]
        raise InvalidInput(
            f"{len(wrong)} path(s) give a size other than their blob's: {wrong[0]!r} says {entry.size} bytes,"
            f" its blob holds {sizes[BlobId(entry.blob)]}"
        )


def _as_stored(entry: Entry) -> Entry:
    """The entry as a tree node gives it back: a summary in plain JSON types (lists, not
    tuples; string keys), so that comparing it with a stored entry compares content."""
    if entry.summary is None:
        return entry
    return entry._replace(summary=json.loads(canonical_json(entry.summary)))


def _skip_through(history: Iterator[Commit], after: str) -> Iterator[Commit]:
    for commit in history:
        if commit.id == after:
            return history
    raise NotFound(f"commit {after!r} is not in this history")
