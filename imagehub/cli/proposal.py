"""`imagehub proposal ...`: open, list, show and merge change proposals on a server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from imagehub.sdk.client import Client
from imagehub.sdk.credentials import token_for

proposal_app = typer.Typer(
    help="Change proposals: reviewed merges from one branch of a dataset into another.",
    no_args_is_help=True,
)
console = Console()

DatasetArg = typer.Argument(..., help="owner/name")
UrlOpt = typer.Option(..., "--url", envvar="IMAGEHUB_URL", help="The ImageHub server.")
PurposeOpt = typer.Option(
    None, "--purpose", envvar="IMAGEHUB_PURPOSE", help="Purpose of use, required for raw (PHI) branches."
)


@contextmanager
def _proposals(url: str, dataset: str, purpose: str | None) -> Iterator[tuple[Client, str]]:
    """An SDK client signed in as `imagehub login` left it, and the dataset's proposals path."""
    client = Client(url, token_for(url), purpose=purpose)
    try:
        yield client, f"{client.dataset(dataset).base}/proposals"
    finally:
        client.close()


def _say(text: str) -> None:
    """Server text as it is: a title with [brackets] is not console markup."""
    console.print(text, markup=False, highlight=False)


def _line(proposal: dict[str, Any]) -> str:
    return (
        f"#{proposal['number']} [{proposal['state']}] {proposal['title']} "
        f"({proposal['source']} → {proposal['target']})"
    )


def _print_summary(summary: dict[str, Any] | None) -> None:
    if summary:
        more = "+" if summary["truncated"] else ""
        console.print(
            f"{summary['ahead']}{more} commit(s) ahead, {summary['changed_files']}{more} file(s) changed"
        )


@proposal_app.command()
def create(
    dataset: str = DatasetArg,
    source: str = typer.Option(..., "--source", "-s", help="Branch with the changes."),
    target: str = typer.Option(..., "--target", "-t", help="Branch to merge into."),
    title: str = typer.Option(..., "--title", help="One line saying what the change is."),
    description: str = typer.Option("", "--description", "-d"),
    reviewers: list[str] = typer.Option([], "--reviewer", help="A user to review it (repeatable)."),
    url: str = UrlOpt,
    purpose: str = PurposeOpt,
) -> None:
    """Propose merging one branch into another."""
    body = {"source": source, "target": target, "title": title, "description": description}
    with _proposals(url, dataset, purpose) as (client, path):
        created = client.api.json("POST", path, json={**body, "reviewers": reviewers})
    _say(f"opened {_line(created)}")
    _print_summary(created["summary"])


@proposal_app.command("list")
def list_(
    dataset: str = DatasetArg,
    state: str = typer.Option("open", "--state", help="open, merged, closed or all."),
    limit: int = typer.Option(50, "--limit", min=1, max=1000),
    url: str = UrlOpt,
) -> None:
    """List proposals by number."""
    with _proposals(url, dataset, None) as (client, path):
        found = client.api.json("GET", path, params={"state": state, "limit": limit})["results"]
    if not found:
        _say(f"no {'' if state == 'all' else state + ' '}proposals")
        return
    table = Table("#", "state", "title", "source → target", "author")
    for item in found:
        cells = (item["state"], item["title"], f"{item['source']} → {item['target']}", item["author"])
        table.add_row(str(item["number"]), *(Text(cell) for cell in cells))  # Text: no markup
    console.print(table)


@proposal_app.command()
def show(
    dataset: str = DatasetArg, number: int = typer.Argument(...), url: str = UrlOpt, purpose: str = PurposeOpt
) -> None:
    """One proposal and what merging it would bring."""
    with _proposals(url, dataset, purpose) as (client, path):
        found = client.api.json("GET", f"{path}/{number}")
    _say(_line(found))
    _say(f"opened by {found['author']} on {found['created_at']}")
    if found["reviewers"]:
        _say(f"reviewers: {', '.join(found['reviewers'])}")
    if found["merged_commit"]:
        _say(f"merged by {found['merged_by']} as {found['merged_commit'][:12]}")
    if found["description"]:
        _say(found["description"])
    _print_summary(found["summary"])


@proposal_app.command()
def merge(
    dataset: str = DatasetArg,
    number: int = typer.Argument(...),
    strategy: str = typer.Option("fail", "--strategy", help="fail, ours or theirs on conflicting paths."),
    message: str = typer.Option("", "-m", "--message"),
    url: str = UrlOpt,
    purpose: str = PurposeOpt,
) -> None:
    """Merge an open proposal (the way into a protected branch)."""
    body = {"strategy": strategy, "message": message}
    with _proposals(url, dataset, purpose) as (client, path):
        merged = client.api.json("POST", f"{path}/{number}/merge", json=body)
    _say(f"merged #{number} into {merged['target']}: {merged['merged_commit'][:12]}")
