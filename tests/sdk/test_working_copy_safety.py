"""A working copy never loses local work, and never gets stuck: pulls and checkouts that
would overwrite something refuse before touching a file, interrupted ones can be run again,
and local commits survive a branch that moved on."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from imagehub.core import paths
from imagehub.core.errors import Conflict, InvalidInput
from imagehub.sdk import objects
from imagehub.sdk.client import Client, RemoteEntry
from imagehub.sdk.ingest import ingest_folder
from imagehub.sdk.workcopy import NotAWorkingCopy, WorkingCopy, _refuse_unversionable
from tests.conftest import Server

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def seeded(server: Server, name: str, files: dict[str, bytes]) -> Client:
    client = server.client()
    client.create_dataset(f"lab/{name}")
    seed = server.tmp / f"seed-{name}"
    write(seed, files)
    ingest_folder(client, seed, f"lab/{name}", "main")
    return client


def legacy_commit(
    server: Server, name: str, files: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Commit paths the server refuses today, as an older server took them."""
    client = server.client()
    dataset = client.dataset(f"lab/{name}")
    seed = server.tmp / f"legacy-{name}"
    write(seed, {hashlib.sha256(c).hexdigest(): c for c in files.values()})
    ingest_folder(client, seed, f"lab/{name}", "main")  # the blobs, uploaded by this user
    strict = paths.path_problem
    with monkeypatch.context() as older:
        older.setattr(paths, "path_problem", lambda value, stored=True: strict(value, stored=True))
        puts = [RemoteEntry(p, hashlib.sha256(c).hexdigest(), len(c)) for p, c in files.items()]
        dataset.commit("main", message="from an older server", puts=puts)


def write(root: Path, files: dict[str, bytes]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def change(copy: WorkingCopy, files: dict[str, bytes | None], message: str = "change") -> None:
    for rel, content in files.items():
        if content is None:
            (copy.root / rel).unlink()
        else:
            write(copy.root, {rel: content})
    copy.add(["."])
    copy.commit(message)


@contextmanager
def interrupted_after(copy: WorkingCopy, files: int, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Ctrl-C as the working copy is about to place its file number ``files + 1``."""
    materialise = copy.cache.materialise
    placed = 0

    def cut_short(blob: str, dest: Path, *, link: bool = True) -> str:
        nonlocal placed
        if placed == files:
            raise KeyboardInterrupt
        placed += 1
        return materialise(blob, dest, link=link)

    monkeypatch.setattr(copy.cache, "materialise", cut_short)
    try:
        yield
    finally:
        monkeypatch.setattr(copy.cache, "materialise", materialise)


def test_a_pull_keeps_local_edits_to_files_it_does_not_touch(server: Server) -> None:
    seeded(server, "edits", {"a.dcm": b"1", "b.dcm": b"2"})
    mine = WorkingCopy.clone(server.url, "lab/edits", server.tmp / "mine")
    theirs = WorkingCopy.clone(server.url, "lab/edits", server.tmp / "theirs")
    (mine.root / "a.dcm").write_bytes(b"local edit")
    change(theirs, {"b.dcm": b"server"})
    theirs.push()
    mine.pull()
    assert (mine.root / "a.dcm").read_bytes() == b"local edit"
    assert (mine.root / "b.dcm").read_bytes() == b"server"
    assert mine.status().modified == ["a.dcm"]

    change(theirs, {"a.dcm": b"server again"})
    theirs.push()
    with pytest.raises(Conflict, match=r"would be overwritten: 'a\.dcm'"):
        mine.pull()
    assert (mine.root / "a.dcm").read_bytes() == b"local edit"


def test_a_pull_never_overwrites_an_untracked_file(server: Server) -> None:
    seeded(server, "untracked", {"a.dcm": b"1"})
    mine = WorkingCopy.clone(server.url, "lab/untracked", server.tmp / "mine")
    theirs = WorkingCopy.clone(server.url, "lab/untracked", server.tmp / "theirs")
    (mine.root / "notes.txt").write_bytes(b"precious")
    change(theirs, {"notes.txt": b"server"})
    theirs.push()
    with pytest.raises(Conflict, match=r"'notes\.txt'"):
        mine.pull()
    assert (mine.root / "notes.txt").read_bytes() == b"precious"
    (mine.root / "notes.txt").write_bytes(b"server")  # the same content is no loss
    mine.pull()
    assert mine.status().clean


def test_a_pull_never_writes_through_a_link_to_a_folder(server: Server) -> None:
    seeded(server, "links", {"a.dcm": b"1"})
    mine = WorkingCopy.clone(server.url, "lab/links", server.tmp / "mine")
    theirs = WorkingCopy.clone(server.url, "lab/links", server.tmp / "theirs")
    outside = server.tmp / "outside"
    write(outside, {"new.txt": b"PRECIOUS"})
    (mine.root / "data").symlink_to(outside)
    change(theirs, {"data/new.txt": b"server"})
    theirs.push()
    with pytest.raises(InvalidInput, match="symbolic link"):
        mine.pull()
    assert (outside / "new.txt").read_bytes() == b"PRECIOUS"
    with pytest.raises(InvalidInput, match="symbolic link"):
        mine.add(["data"])


def test_an_interrupted_pull_can_be_run_again(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    files = {f"s/{i:03d}.dcm": bytes([i]) * 10 for i in range(20)}
    seeded(server, "resume", files)
    mine = WorkingCopy.clone(server.url, "lab/resume", server.tmp / "mine")
    theirs = WorkingCopy.clone(server.url, "lab/resume", server.tmp / "theirs")
    change(theirs, {path: b"v2" + content for path, content in files.items()})
    theirs.push()
    with interrupted_after(mine, 7, monkeypatch), pytest.raises(KeyboardInterrupt):
        mine.pull()
    assert len(mine.status().modified) == 7  # already the new content, not yet recorded
    mine.pull()
    assert mine.status().clean
    assert all((mine.root / p).read_bytes() == b"v2" + c for p, c in files.items())


def test_a_file_can_become_a_folder_and_back(server: Server) -> None:
    seeded(server, "shapes", {"thing": b"a file"})
    mine = WorkingCopy.clone(server.url, "lab/shapes", server.tmp / "mine")
    first = mine.config["head"]
    theirs = WorkingCopy.clone(server.url, "lab/shapes", server.tmp / "theirs")
    change(theirs, {"thing": None})
    change(theirs, {"thing/inner.txt": b"inside"})
    theirs.push()
    mine.pull()
    assert (mine.root / "thing" / "inner.txt").read_bytes() == b"inside"
    mine.checkout(first)
    assert (mine.root / "thing").read_bytes() == b"a file"
    assert not list(mine.root.glob("*.imagehub-tmp"))


def test_local_commits_survive_a_branch_that_moved_on(server: Server) -> None:
    seeded(server, "moved", {"a.dcm": b"1", "b.dcm": b"2"})
    mine = WorkingCopy.clone(server.url, "lab/moved", server.tmp / "mine")
    theirs = WorkingCopy.clone(server.url, "lab/moved", server.tmp / "theirs")
    change(theirs, {"b.dcm": b"theirs"})
    theirs.push()
    change(mine, {"a.dcm": b"mine", "c.dcm": b"new"})
    with pytest.raises(Exception, match="pull and retry"):
        mine.push()
    mine.pull()  # the server's change comes in; the local commit stays on top
    assert (mine.root / "b.dcm").read_bytes() == b"theirs"
    assert (mine.root / "a.dcm").read_bytes() == b"mine"
    assert len(mine.pending()) == 1
    mine.push()
    theirs.pull()
    assert {p: (theirs.root / p).read_bytes() for p in ("a.dcm", "b.dcm", "c.dcm")} == {
        "a.dcm": b"mine",
        "b.dcm": b"theirs",
        "c.dcm": b"new",
    }


def test_clashing_local_commits_go_to_a_new_branch(server: Server) -> None:
    client = seeded(server, "clash", {"a.dcm": b"1"})
    mine = WorkingCopy.clone(server.url, "lab/clash", server.tmp / "mine")
    theirs = WorkingCopy.clone(server.url, "lab/clash", server.tmp / "theirs")
    change(theirs, {"a.dcm": b"theirs"})
    theirs.push()
    change(mine, {"a.dcm": b"mine"})
    with pytest.raises(Conflict, match=r"both changed 'a\.dcm'.*push --branch"):
        mine.pull()
    assert (mine.root / "a.dcm").read_bytes() == b"mine"
    [made] = mine.push(branch="mine")
    assert mine.config["branch"] == "mine"
    dataset = client.dataset("lab/clash")
    assert {b["name"]: b["commit_id"] for b in dataset.branches()}["mine"] == made
    merged = dataset.merge("mine", "main", "theirs")
    assert dataset.open("a.dcm", merged["id"]) == b"mine"


def test_a_push_refused_by_another_branch_leaves_the_copy_on_its_own(server: Server) -> None:
    client = seeded(server, "refused", {"keep.dcm": b"1"})
    dataset = client.dataset("lab/refused")
    copy = WorkingCopy.clone(server.url, "lab/refused", server.tmp / "copy")
    dataset.create_branch("other", "main")
    change(WorkingCopy.clone(server.url, "lab/refused", server.tmp / "o", ref="other"), {"o.dcm": b"o"})
    WorkingCopy.find(server.tmp / "o").push()  # other moved on: the copy's head is not its parent
    change(copy, {"mine.dcm": b"mine"})
    with pytest.raises(Conflict):
        copy.push(branch="other")
    assert (copy.config["branch"], WorkingCopy.find(copy.root).config["branch"]) == ("main", "main")
    assert copy.push() != []  # still on main: its commit goes there


def test_a_tag_or_commit_checkout_is_not_on_a_branch(server: Server) -> None:
    client = seeded(server, "detached", {"a.dcm": b"1"})
    client.dataset("lab/detached").create_tag("v1", "main")
    copy = WorkingCopy.clone(server.url, "lab/detached", server.tmp / "tagged", ref="v1")
    assert copy.config["branch"] is None
    change(copy, {"b.dcm": b"2"})
    with pytest.raises(InvalidInput, match="not on a branch"):
        copy.push()
    with pytest.raises(InvalidInput, match="not on a branch"):
        copy.pull()
    copy.push(branch="from-v1")
    assert [b["name"] for b in client.dataset("lab/detached").branches()] == ["from-v1", "main"]


def test_add_refuses_names_a_dataset_cannot_hold_and_forgets_deleted_new_files(server: Server) -> None:
    seeded(server, "names", {"a.dcm": b"1"})
    copy = WorkingCopy.clone(server.url, "lab/names", server.tmp / "copy")
    write(copy.root, {"back\\slash.txt": b"x"})
    with pytest.raises(InvalidInput, match="cannot be versioned"):
        copy.add(["."])
    (copy.root / "back\\slash.txt").unlink()
    write(copy.root, {"scratch.txt": b"tmp"})
    copy.add(["scratch.txt"])
    (copy.root / "scratch.txt").unlink()
    assert copy.add(["scratch.txt"]) == 1
    assert copy.status().clean


def test_a_long_file_name_can_be_cloned(server: Server) -> None:
    name = "n" * 250
    seeded(server, "long", {name: b"x"})
    copy = WorkingCopy.clone(server.url, "lab/long", server.tmp / "copy")
    assert (copy.root / name).read_bytes() == b"x"


def test_a_failed_clone_leaves_nothing_behind(server: Server) -> None:
    seeded(server, "gone", {"a.dcm": b"1"})
    dest = server.tmp / "clone"
    with pytest.raises(Exception, match="no branch, tag or commit named 'no-such-ref'"):
        WorkingCopy.clone(server.url, "lab/gone", dest, ref="no-such-ref")
    assert not dest.exists()
    dest.mkdir()
    with pytest.raises(Exception, match="404"):
        WorkingCopy.clone(server.url, "lab/nope", dest)
    assert dest.is_dir()
    assert not os.listdir(dest)
    WorkingCopy.clone(server.url, "lab/gone", dest)
    assert (dest / "a.dcm").read_bytes() == b"1"
    (server.tmp / "afile").write_bytes(b"")
    with pytest.raises(InvalidInput, match="not a folder"):
        WorkingCopy.clone(server.url, "lab/gone", server.tmp / "afile")


def test_a_damaged_cached_copy_is_named_dropped_and_cached_again(server: Server) -> None:
    seeded(server, "damaged", {"a.dcm": b"1"})
    copy = WorkingCopy.clone(server.url, "lab/damaged", server.tmp / "copy")
    for name, size in (("small.dcm", 1000), ("large.nii", 9 * 1024 * 1024)):
        content = os.urandom(size)
        change(copy, {name: content})
        cached = copy.cache.path(hashlib.sha256(content).hexdigest())
        cached.chmod(0o644)
        cached.write_bytes(bytes(size))  # same size, other bytes: what a crash can leave
        with pytest.raises(InvalidInput, match=f"(damaged copy of|cut short what was staged for) '{name}'"):
            copy.push()
        copy.add([name])
        copy.push()
        assert copy.dataset.open(name, "main") == content


def test_a_local_commit_the_server_already_holds_is_dropped_on_push(server: Server) -> None:
    seeded(server, "same", {"p.dcm": b"1", "q.dcm": b"2"})
    mine = WorkingCopy.clone(server.url, "lab/same", server.tmp / "mine")
    theirs = WorkingCopy.clone(server.url, "lab/same", server.tmp / "theirs")
    change(theirs, {"p.dcm": None})
    theirs.push()
    change(mine, {"p.dcm": None})  # the very same change, made on both sides
    change(mine, {"q.dcm": b"mine"}, "second")
    mine.pull()
    made = mine.push()
    assert len(made) == 1
    assert mine.pending() == []
    assert sorted(e.path for e in mine.dataset.entries("main")[1]) == ["q.dcm"]


def test_a_file_and_a_folder_of_the_same_name_are_refused_on_pull(server: Server) -> None:
    seeded(server, "shape-clash", {"a.dcm": b"1"})
    mine = WorkingCopy.clone(server.url, "lab/shape-clash", server.tmp / "mine")
    theirs = WorkingCopy.clone(server.url, "lab/shape-clash", server.tmp / "theirs")
    change(theirs, {"n/x": b"a folder there"})
    theirs.push()
    change(mine, {"n": b"a file here"})
    (mine.root / "n").rename(server.tmp / "n-moved")
    with pytest.raises(Conflict, match=r"'n/x' lies in a folder that the other side made a file"):
        mine.pull()


def test_a_pull_never_removes_a_file_through_a_linked_folder(server: Server) -> None:
    seeded(server, "link-rm", {"d/f.dcm": b"1", "k.dcm": b"2"})
    mine = WorkingCopy.clone(server.url, "lab/link-rm", server.tmp / "mine")
    theirs = WorkingCopy.clone(server.url, "lab/link-rm", server.tmp / "theirs")
    elsewhere = server.tmp / "elsewhere"
    (mine.root / "d").rename(elsewhere)
    (mine.root / "d").symlink_to(elsewhere)
    (elsewhere / "f.dcm").write_bytes(b"edited elsewhere")
    change(theirs, {"d/f.dcm": None})
    theirs.push()
    with pytest.raises(InvalidInput, match="symbolic link"):
        mine.pull()
    assert (elsewhere / "f.dcm").read_bytes() == b"edited elsewhere"


def test_folders_in_the_way_of_a_file(server: Server) -> None:
    seeded(server, "in-the-way", {"a.dcm": b"1"})
    mine = WorkingCopy.clone(server.url, "lab/in-the-way", server.tmp / "mine")
    theirs = WorkingCopy.clone(server.url, "lab/in-the-way", server.tmp / "theirs")
    change(theirs, {"e": b"a file", "l": b"another"})
    theirs.push()
    (mine.root / "l").mkdir()
    (mine.root / "l" / "link").symlink_to(mine.root / "a.dcm")
    with pytest.raises(Conflict, match="'l'"):  # a link is something to keep
        mine.pull()
    assert (mine.root / "a.dcm").read_bytes() == b"1"
    (mine.root / "l" / "link").unlink()
    (mine.root / "e" / "empty").mkdir(parents=True)  # empty folders hold nothing to lose
    mine.pull()
    assert (mine.root / "e").read_bytes() == b"a file"
    assert mine.status().clean


def test_a_file_back_after_a_staged_deletion_is_no_deletion(server: Server) -> None:
    seeded(server, "back", {"top.dcm": b"1"})
    copy = WorkingCopy.clone(server.url, "lab/back", server.tmp / "copy")
    (copy.root / "top.dcm").unlink()
    copy.add(["top.dcm"])
    (copy.root / "top.dcm").write_bytes(b"1")
    copy.add(["top.dcm"])
    assert copy.status().clean


def test_checkout_finds_branches_beyond_the_first_page(server: Server) -> None:
    client = seeded(server, "many", {"a.dcm": b"1"})
    dataset = client.dataset("lab/many")
    for number in range(101):
        dataset.create_branch(f"b{number:03d}", "main")
    copy = WorkingCopy.clone(server.url, "lab/many", server.tmp / "copy")
    assert copy.config["branch"] == "main"  # the 102nd branch in name order
    copy.checkout("b100")
    assert copy.config["branch"] == "b100"
    assert len(dataset.branches()) == 102


def test_a_checkout_cut_short_must_be_finished_before_another(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = seeded(server, "journal", {f"{i}.dcm": bytes([i]) for i in range(10)})
    copy = WorkingCopy.clone(server.url, "lab/journal", server.tmp / "copy")
    other = WorkingCopy.clone(server.url, "lab/journal", server.tmp / "other")
    client.dataset("lab/journal").create_branch("relabelled", "main")
    other.checkout("relabelled")
    change(other, {f"{i}.dcm": b"new" + bytes([i]) for i in range(10)})
    other.push()
    with interrupted_after(copy, 4, monkeypatch), pytest.raises(KeyboardInterrupt):
        copy.checkout("relabelled")
    assert copy.unfinished_checkout() == "relabelled"
    with pytest.raises(Conflict, match="checkout of relabelled was cut short"):
        copy.pull()  # main's pull would leave relabelled's files looking like local edits
    copy.checkout("relabelled")
    assert copy.unfinished_checkout() is None
    assert copy.status().clean
    assert copy.config["branch"] == "relabelled"


@pytest.mark.parametrize(("removed", "local_shape"), [("notes", "notes/keep.txt"), ("d/f", "d")])
def test_a_removed_file_whose_place_took_another_shape_locally_does_not_stop_a_pull(
    server: Server, removed: str, local_shape: str
) -> None:
    """The server removes a file; locally a folder stands where it was (or a file where its
    folder was). The pull goes through and the local files stay, untracked."""
    seeded(server, "shape", {removed: b"tracked", "other.dcm": b"o"})
    mine = WorkingCopy.clone(server.url, "lab/shape", server.tmp / "mine")
    theirs = WorkingCopy.clone(server.url, "lab/shape", server.tmp / "theirs")
    change(theirs, {removed: None})
    theirs.push()
    top = removed.split("/")[0]
    if (mine.root / removed).is_file():
        (mine.root / removed).unlink()
    if (mine.root / top).is_dir():
        (mine.root / top).rmdir()
    write(mine.root, {local_shape: b"mine"})
    mine.pull()
    assert mine.unfinished_checkout() is None
    assert (mine.root / local_shape).read_bytes() == b"mine"
    assert mine.status().added == [local_shape]


def test_commits_need_a_message_and_names_a_working_copy_could_not_hold_are_refused(server: Server) -> None:
    seeded(server, "rules", {"a.dcm": b"1"})
    copy = WorkingCopy.clone(server.url, "lab/rules", server.tmp / "copy")
    write(copy.root, {"b.dcm": b"2"})
    copy.add(["b.dcm"])
    with pytest.raises(InvalidInput, match="needs a message"):
        copy.commit("  ")
    write(copy.root, {"x/.ImageHub/notes.txt": b"n", "x/c.dcm": b"3", "scan.imagehub-tmp": b"a real file"})
    copy.add(["x", "scan.imagehub-tmp"])  # state folders, in any case, are never a dataset's
    assert copy.status().staged == ["b.dcm", "scan.imagehub-tmp", "x/c.dcm"]
    with pytest.raises(InvalidInput, match="over 1024 bytes"):
        _refuse_unversionable(["n" * 1100])


def test_a_working_copy_inside_another_is_left_alone(server: Server) -> None:
    seeded(server, "outer", {"a.dcm": b"1"})
    seeded(server, "inner", {"b.dcm": b"2"})
    outer = WorkingCopy.clone(server.url, "lab/outer", server.tmp / "outer")
    WorkingCopy.clone(server.url, "lab/inner", outer.root / "nested")
    assert outer.add(["."]) == 1
    assert outer.status().staged == ["nested/b.dcm"]


def test_a_second_command_in_a_working_copy_is_refused_while_one_runs(server: Server) -> None:
    seeded(server, "busy", {"a.dcm": b"1"})
    copy = WorkingCopy.clone(server.url, "lab/busy", server.tmp / "copy")
    with (copy.state / "lock").open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # what a running push holds
        with pytest.raises(Conflict, match="another imagehub command is working"):
            copy.status()
    assert copy.status().clean  # free again once it is done


def test_a_version_holding_a_state_folder_at_any_depth_is_never_checked_out(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dataset's ``scans/.imagehub/config.json`` would make every command run in ``scans/``
    send the user's token to the server it names."""
    seeded(server, "planted", {"scans/ok.dcm": b"ok"})
    copy = WorkingCopy.clone(server.url, "lab/planted", server.tmp / "copy")
    planted = b'{"url": "http://127.0.0.1:9", "dataset": "x/y", "branch": "main", "head": null}'
    legacy_commit(server, "planted", {"scans/.IMAGEHUB/config.json": planted}, monkeypatch)
    with pytest.raises(InvalidInput, match=r"holds 'scans/\.IMAGEHUB/config\.json', which no checkout"):
        copy.pull()
    assert not (copy.root / "scans" / ".IMAGEHUB").exists()
    with pytest.raises(InvalidInput, match=r"a folder named \.imagehub"):
        WorkingCopy.clone(server.url, "lab/planted", server.tmp / "again")
    assert not (server.tmp / "again").exists()


def test_a_state_folder_a_working_copy_tracks_is_not_taken_for_a_working_copy(server: Server) -> None:
    """What a checkout by an older client left: the outer copy tracks the planted config."""
    seeded(server, "hijack", {"scans/ok.dcm": b"ok"})
    outer = WorkingCopy.clone(server.url, "lab/hijack", server.tmp / "outer")
    planted = outer.root / "scans" / ".imagehub" / "config.json"
    planted.parent.mkdir()
    planted.write_text('{"url": "http://127.0.0.1:9", "dataset": "x/y", "branch": "main", "head": null}')
    assert WorkingCopy.find(outer.root / "scans").root == outer.root / "scans"  # a nested clone is honoured
    index = json.loads((outer.state / "index.json").read_text())
    index["scans/.imagehub/config.json"] = [hashlib.sha256(planted.read_bytes()).hexdigest(), 1, 0, 0]
    (outer.state / "index.json").write_text(json.dumps(index))
    with pytest.raises(NotAWorkingCopy, match=r"files of the working copy at .*outer"):
        WorkingCopy.find(outer.root / "scans")
    assert WorkingCopy.find(outer.root).root == outer.root


def test_a_linked_file_edited_in_place_changes_no_sibling_and_no_later_checkout(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What vim's ``:w!`` does to a read-only hard-linked file: make it writable and write
    in place. Other paths of the copy keep their bytes, both copies that share the object
    say the file changed, and a new clone gets the dataset's bytes."""
    monkeypatch.setattr(os, "geteuid", lambda: 1000)  # as any user but root: links are used
    monkeypatch.setattr(objects, "_reflink", lambda source, dest: False)  # as on ext4
    seeded(server, "linked", {"notes_a.txt": b"original", "notes_b.txt": b"original"})
    mine = WorkingCopy.clone(server.url, "lab/linked", server.tmp / "mine")
    theirs = WorkingCopy.clone(server.url, "lab/linked", server.tmp / "theirs")
    edited = mine.root / "notes_a.txt"
    edited.chmod(0o644)
    with edited.open("r+b") as handle:
        handle.write(b"EDITED!!")
    assert (mine.root / "notes_b.txt").read_bytes() == b"original"
    assert mine.status().modified == ["notes_a.txt"]
    assert theirs.status().modified == ["notes_a.txt"]  # the same inode: not silently changed
    fresh = WorkingCopy.clone(server.url, "lab/linked", server.tmp / "fresh")
    assert [(fresh.root / n).read_bytes() for n in ("notes_a.txt", "notes_b.txt")] == [b"original"] * 2


def test_links_are_named_by_status_and_refused_by_add_never_staged_as_deletions(server: Server) -> None:
    """Data moved elsewhere with a link left in its place must not leave the dataset."""
    seeded(server, "symlinks", {"real.dcm": b"real", "keep.dcm": b"keep"})
    copy = WorkingCopy.clone(server.url, "lab/symlinks", server.tmp / "copy")
    outside = server.tmp / "outside"
    write(outside, {"scan.dcm": b"DATA"})
    (copy.root / "link.dcm").symlink_to(outside / "scan.dcm")
    (copy.root / "real.dcm").rename(outside / "real.dcm")
    (copy.root / "real.dcm").symlink_to(outside / "real.dcm")
    status = copy.status()
    assert (status.links, status.deleted, status.clean) == (["link.dcm", "real.dcm"], [], False)
    with pytest.raises(InvalidInput, match=r"link\.dcm is a symbolic link: ImageHub versions files"):
        copy.add(["."])
    assert copy.status().staged == []
    (copy.root / "link.dcm").unlink()
    with pytest.raises(InvalidInput, match=r"real\.dcm is a symbolic link"):
        copy.add(["."])
    assert copy.add(["keep.dcm"]) == 0  # a link elsewhere does not stop adding other paths


def test_a_version_holding_a_name_too_long_to_check_out_is_refused_by_name(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded(server, "longname", {"ok.dcm": b"ok"})
    legacy_commit(server, "longname", {"d/" + "x" * 300: b"long"}, monkeypatch)
    with pytest.raises(InvalidInput, match=r"holds 'd/x+', which no checkout may hold \(a name over 255"):
        WorkingCopy.clone(server.url, "lab/longname", server.tmp / "copy")
