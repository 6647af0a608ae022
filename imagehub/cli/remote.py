"""Client commands: login, create, clone, status, add, commit, push, pull, checkout, branch, tag, log,
diff, merge and ingest, over a working copy and the SDK."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from imagehub.cli.dataset_cli import UrlOpt
from imagehub.core.paths import shown
from imagehub.sdk.client import Client
from imagehub.sdk.credentials import chosen_server, save_token, token_for
from imagehub.sdk.http import PURPOSE_ENV
from imagehub.sdk.workcopy import WorkingCopy

console = Console()


@contextmanager
def transfer_bar(label: str) -> Iterator[tuple[Callable[[int], None], Callable[[int], None]]]:
    """A byte progress bar: yields (advance, set_total) callbacks for the SDK."""
    with Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)
        yield (lambda n: bar.advance(task, n)), (lambda total: bar.update(task, total=total))


# Raw (PHI) branches open only with a stated purpose: every command that reads or writes a
# branch takes it, so the server's "pass --purpose" holds whichever command it answered.
PurposeOpt = typer.Option(
    None, "--purpose", envvar=PURPOSE_ENV, help="Purpose of use, required for raw (PHI) branches."
)


def _here(purpose: str | None = None) -> WorkingCopy:
    return WorkingCopy.find(Path.cwd(), purpose=purpose)


def login(url: str, token: str = typer.Option(None, help="API token (prompted for when omitted).")) -> None:
    """Store an API token for a server (create one in the portal or with `imagehub token create`)."""
    token = token or typer.prompt("API token", hide_input=True)
    client = Client(url, token)
    try:
        me = client.whoami()
    finally:
        client.close()
    path = save_token(url, token)
    console.print(f"signed in to {url} as [bold]{me['username']}[/] (token kept in {path})", highlight=False)


def clone(
    dataset: str = typer.Argument(..., help="owner/name"),
    dest: Path = typer.Argument(None, help="Folder to create (default: the dataset's name)."),
    url: str | None = UrlOpt,
    ref: str = typer.Option(None, "--ref", help="Branch, tag or commit (default: the default branch)."),
    purpose: str | None = PurposeOpt,
) -> None:
    """Copy a dataset version into a new working copy."""
    target, server = dest or Path(dataset.split("/")[-1]), chosen_server(url)
    with transfer_bar("clone") as (advance, total):
        copy = WorkingCopy.clone(
            server, dataset, target, ref=ref, purpose=purpose, progress=advance, on_total=total
        )
    console.print(
        f"cloned {dataset}@{copy.config['head'][:12]} into {target} ({len(copy.head_manifest())} files)"
    )


def create(
    dataset: str = typer.Argument(..., help="owner/name"),
    url: str | None = UrlOpt,
    description: str = typer.Option("", "--description", "-d", help="One line about the data."),
    visibility: str = typer.Option("private", "--visibility", help="private, internal or public."),
    datasheet: bool = typer.Option(
        True, "--datasheet/--no-datasheet", help="Start with a README.md datasheet template to fill in."
    ),
) -> None:
    """Create a dataset on the server (clone it next to add data)."""
    server = chosen_server(url)
    client = Client(server, token_for(server))
    try:
        client.create_dataset(dataset, description=description, visibility=visibility, datasheet=datasheet)
    finally:
        client.close()
    note = " with a datasheet template in README.md" if datasheet else ""
    console.print(f"created {dataset}{note}; next: imagehub clone {dataset} --url {server}", highlight=False)


def status() -> None:
    """Show changes against the last commit (an unchanged tree is only stat'ed)."""
    copy = _here()
    result = copy.status()
    where = f"on branch [bold]{copy.config['branch']}[/]" if copy.config["branch"] else "not on a branch"
    console.print(f"{where} at {str(copy.config['head'])[:12]}", highlight=False)
    if unfinished := copy.unfinished_checkout():
        console.print(
            f"[yellow]a checkout of {unfinished} was cut short:[/] `imagehub checkout {unfinished}`"
        )
    if copy.pending():
        console.print(f"{len(copy.pending())} local commit(s) to push")
    for label, paths, colour in (
        ("staged", result.staged, "green"),
        ("modified", result.modified, "yellow"),
        ("added", result.added, "cyan"),
        ("deleted", result.deleted, "red"),
        ("link", result.links, "magenta"),
    ):
        for path in paths:
            console.print(f"  [{colour}]{label:9}[/] {escape(shown(path))}", highlight=False)
    if result.links:
        console.print("symbolic links are never added: put the files themselves there", highlight=False)
    if result.clean:
        console.print("nothing to commit, working tree clean")


def add(
    paths: list[str] = typer.Argument(..., help="Files or folders, from the current folder; '.' for it all."),
) -> None:
    """Stage the current content of files (deleted files are staged as deletions)."""
    console.print(f"staged {_here().add([str(Path(p).absolute()) for p in paths])} change(s)")


def commit(message: str = typer.Option(..., "-m", "--message")) -> None:
    """Record the staged changes as a local commit; `push` sends it."""
    record = _here().commit(message)
    console.print(
        f"committed locally: {len(record['put'])} put, {len(record['delete'])} deleted — `imagehub push`"
    )


def push(
    branch: str = typer.Option(
        None, "--branch", help="Send the commits to this branch (made at the local head when missing)."
    ),
    purpose: str | None = PurposeOpt,
) -> None:
    """Upload only what the server lacks (resuming interrupted uploads) and post local commits."""
    copy = _here(purpose)
    with transfer_bar("push") as (advance, total):
        made = copy.push(branch=branch, progress=advance, on_total=total)
    if not made:
        console.print("nothing to push")
    for commit_id in made:
        console.print(f"pushed {commit_id[:12]} to {copy.config['branch']}")


def pull(purpose: str | None = PurposeOpt) -> None:
    """Bring the working copy up to its branch's latest commit."""
    copy = _here(purpose)
    with transfer_bar("pull") as (advance, total):
        head = copy.pull(progress=advance, on_total=total)
    console.print(f"{copy.config['branch']} is at {head[:12]}")


def checkout(ref: str, purpose: str | None = PurposeOpt) -> None:
    """Switch the working copy to a branch, tag or commit."""
    copy = _here(purpose)
    with transfer_bar("checkout") as (advance, total):
        head = copy.checkout(ref, progress=advance, on_total=total)
    console.print(f"now at {ref} ({head[:12]})")


def branch(
    name: str = typer.Argument(None, help="Create this branch (omit to list)."),
    start: str = typer.Option(None, "--from", help="Where the new branch starts (default: current head)."),
    purpose: str | None = PurposeOpt,
) -> None:
    """List branches, or create one on the server (constant time, nothing copied)."""
    copy = _here(purpose)
    if name is None:
        for ref in copy.dataset.branches():
            marker = "*" if ref["name"] == copy.config["branch"] else " "
            console.print(f"{marker} {ref['name']:30} {ref['commit_id'][:12]}", highlight=False)
        return
    made = copy.dataset.create_branch(name, start or copy.config["head"])
    console.print(f"created branch {name} at {made['commit_id'][:12]}")


def tag(
    name: str = typer.Argument(None),
    ref: str = typer.Argument(None),
    message: str = typer.Option("", "-m"),
    purpose: str | None = PurposeOpt,
) -> None:
    """List tags, or create an immutable tag at a ref (default: current head)."""
    copy = _here(purpose)
    if name is None:
        for item in copy.dataset.tags():
            console.print(f"{item['name']:30} {item['commit_id'][:12]} {item['message']}", highlight=False)
        return
    made = copy.dataset.create_tag(name, ref or copy.config["head"], message)
    console.print(f"tagged {made['commit_id'][:12]} as {name}")


def log(
    ref: str = typer.Argument(None), limit: int = typer.Option(20, "-n"), purpose: str | None = PurposeOpt
) -> None:
    """Commits of a ref, newest first."""
    copy = _here(purpose)
    for item in copy.dataset.log(ref or copy.config["branch"] or copy.config["head"], limit):
        console.print(
            f"[yellow]{item['id'][:12]}[/] {item['created_at'][:19]} {item['author']:12} "
            f"{item['message'].splitlines()[0] if item['message'] else ''}",
            highlight=False,
        )


def diff(
    left: str = typer.Argument(None), right: str = typer.Argument(None), purpose: str | None = PurposeOpt
) -> None:
    """Changes between two refs (default: the branch head against the working copy's head)."""
    copy = _here(purpose)
    changes = copy.dataset.diff(
        left or copy.config["head"], right or copy.config["branch"] or copy.config["head"]
    )
    table = Table("change", "path", "size delta")
    for change in changes:
        table.add_row(change["type"], change["path"], f"{change['size_delta']:+}")
    console.print(table if changes else "no differences")


def merge(
    source: str,
    into: str = typer.Option(None, "--into"),
    strategy: str = typer.Option("fail"),
    purpose: str | None = PurposeOpt,
) -> None:
    """Three-way merge on the server of SOURCE into a branch (default: the working copy's)."""
    copy = _here(purpose)
    made = copy.dataset.merge(source, into or copy.config["branch"], strategy)
    console.print(f"merged {source} into {into or copy.config['branch']}: {made['id'][:12]}")


def ingest(
    path: Path = typer.Argument(..., exists=True, file_okay=False, help="Folder of DICOM/NIfTI files."),
    dataset: str = typer.Option(..., "--dataset", help="owner/name (created when missing)."),
    branch_name: str = typer.Option(
        "raw", "--branch", help="Branch to commit to (created from the default)."
    ),
    url: str | None = UrlOpt,
    message: str = typer.Option("", "-m", help="Commit message."),
    purpose: str | None = PurposeOpt,
) -> None:
    """Import a whole folder as one commit: hash, upload what is missing, commit."""
    from imagehub.sdk.ingest import ingest_folder

    server = chosen_server(url)
    client = Client(server, token_for(server), purpose=purpose)
    try:
        with transfer_bar("ingest") as (advance, total):
            result = ingest_folder(
                client, path, dataset, branch_name, message, progress=advance, on_total=total
            )
    finally:
        client.close()
    if result.unchanged:
        console.print(
            f"{dataset}@{branch_name} already holds these {result.files} files as they are"
            f" (ingest never removes files): {result.commit[:12]}"
        )
        return
    console.print(
        f"ingested {result.files} files ({result.uploaded_bytes} bytes sent) into "
        f"{dataset}@{branch_name}: {result.commit[:12]}",
        highlight=False,
    )


COMMANDS = (
    login,
    create,
    clone,
    status,
    add,
    commit,
    push,
    pull,
    checkout,
    branch,
    tag,
    log,
    diff,
    merge,
    ingest,
)
