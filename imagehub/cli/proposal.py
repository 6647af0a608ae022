"""`imagehub proposal ...`: open, list, show and merge change proposals on a server."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from imagehub.cli.dataset_cli import DatasetArg, PurposeOpt, UrlOpt, console, dataset_endpoint, say

proposal_app = typer.Typer(
    help="Change proposals: reviewed merges from one branch of a dataset into another.",
    no_args_is_help=True,
)


def _source(proposal: dict[str, Any]) -> str:
    fork = proposal.get("source_dataset")
    return f"{fork}:{proposal['source']}" if fork else str(proposal["source"])


def _line(proposal: dict[str, Any]) -> str:
    return (
        f"#{proposal['number']} [{proposal['state']}] {proposal['title']} "
        f"({_source(proposal)} → {proposal['target']})"
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
    fork: str = typer.Option(
        None, "--from", help="owner/name of a dataset derived from DATASET whose --source branch to propose."
    ),
    title: str = typer.Option(..., "--title", help="One line saying what the change is."),
    description: str = typer.Option("", "--description", "-d"),
    reviewers: list[str] = typer.Option([], "--reviewer", help="A user to review it (repeatable)."),
    url: str | None = UrlOpt,
    purpose: str = PurposeOpt,
) -> None:
    """Propose merging one branch into another, or a derived dataset's branch back (--from)."""
    body = {"source": source, "target": target, "title": title, "description": description}
    if fork:
        body["source_dataset"] = fork
    with dataset_endpoint(url, dataset, purpose, "proposals") as (client, path):
        created = client.api.json("POST", path, json={**body, "reviewers": reviewers})
    say(f"opened {_line(created)}")
    _print_summary(created["summary"])


@proposal_app.command("list")
def list_(
    dataset: str = DatasetArg,
    state: str = typer.Option("open", "--state", help="open, merged, closed or all."),
    limit: int = typer.Option(50, "--limit", min=1, max=1000),
    url: str | None = UrlOpt,
) -> None:
    """List proposals by number."""
    with dataset_endpoint(url, dataset, None, "proposals") as (client, path):
        found = client.api.json("GET", path, params={"state": state, "limit": limit})["results"]
    if not found:
        say(f"no {'' if state == 'all' else state + ' '}proposals")
        return
    table = Table("#", "state", "title", "source → target", "author")
    for item in found:
        cells = (item["state"], item["title"], f"{_source(item)} → {item['target']}", item["author"])
        table.add_row(str(item["number"]), *(Text(cell) for cell in cells))  # Text: no markup
    console.print(table)


@proposal_app.command()
def show(
    dataset: str = DatasetArg,
    number: int = typer.Argument(...),
    url: str | None = UrlOpt,
    purpose: str = PurposeOpt,
) -> None:
    """One proposal and what merging it would bring."""
    with dataset_endpoint(url, dataset, purpose, "proposals") as (client, path):
        found = client.api.json("GET", f"{path}/{number}")
    say(_line(found))
    say(f"opened by {found['author']} on {found['created_at']}")
    if found["reviewers"]:
        say(f"reviewers: {', '.join(found['reviewers'])}")
    if found["merged_commit"]:
        say(f"merged by {found['merged_by']} as {found['merged_commit'][:12]}")
    if found["description"]:
        say(found["description"])
    _print_summary(found["summary"])


@proposal_app.command()
def merge(
    dataset: str = DatasetArg,
    number: int = typer.Argument(...),
    strategy: str = typer.Option("fail", "--strategy", help="fail, ours or theirs on conflicting paths."),
    message: str = typer.Option("", "-m", "--message"),
    url: str | None = UrlOpt,
    purpose: str = PurposeOpt,
) -> None:
    """Merge an open proposal (the way into a protected branch)."""
    body = {"strategy": strategy, "message": message}
    with dataset_endpoint(url, dataset, purpose, "proposals") as (client, path):
        merged = client.api.json("POST", f"{path}/{number}/merge", json=body)
    say(f"merged #{number} into {merged['target']}: {merged['merged_commit'][:12]}")
