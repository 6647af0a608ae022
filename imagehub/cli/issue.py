"""`imagehub issue ...`: issues and annotation tasks of a dataset on a server."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from imagehub.cli.dataset_cli import DatasetArg, PurposeOpt, UrlOpt, console, dataset_endpoint, say

issue_app = typer.Typer(
    help="Issues and annotation tasks: QC findings and labelling work on a dataset.",
    no_args_is_help=True,
)
NumberArg = typer.Argument(..., help="The issue's number in the dataset.")


def _line(issue: dict[str, Any]) -> str:
    labels = f" {{{', '.join(issue['labels'])}}}" if issue["labels"] else ""
    assignee = f" → {issue['assignee']}" if issue["assignee"] else ""
    return f"#{issue['number']} [{issue['state']}] {issue['title']}{labels}{assignee}"


def _link_line(link: dict[str, Any]) -> str:
    if link["withheld"]:
        return f"  link {link['id']}: withheld (raw data: state a purpose of use with --purpose)"
    where = f" {link['path']}" if link["path"] else ""
    note = f" — {link['note']}" if link["note"] else ""
    at = f"{link['commit'][:12]} ({link['ref']})"
    return f"  link {link['id']}: {link['series_instance_uid']} at {at}{where}{note}"


@issue_app.command()
def create(
    dataset: str = DatasetArg,
    title: str = typer.Option(..., "--title", help="One line saying what to look at or do."),
    body: str = typer.Option("", "--body", "-b", help="Details (markdown)."),
    labels: list[str] = typer.Option([], "--label", "-l", help="A label (repeatable)."),
    assignee: str = typer.Option("", "--assignee", "-a", help="A user who can read the dataset."),
    url: str | None = UrlOpt,
) -> None:
    """Open an issue."""
    request = {"title": title, "body": body, "labels": labels, "assignee": assignee}
    with dataset_endpoint(url, dataset, None, "issues") as (client, path):
        created = client.api.json("POST", path, json=request)
    say(f"opened {_line(created)}")


@issue_app.command("list")
def list_(
    dataset: str = DatasetArg,
    state: str = typer.Option("open", "--state", help="open, closed or all."),
    label: str = typer.Option("", "--label", "-l", help="Only issues with this label."),
    assignee: str = typer.Option("", "--assignee", "-a", help="Only issues assigned to this user."),
    text: str = typer.Option("", "--search", "-q", help="Only issues whose title contains this."),
    limit: int = typer.Option(50, "--limit", min=1, max=1000),
    url: str | None = UrlOpt,
) -> None:
    """List issues by number."""
    params: dict[str, str | int] = {"state": state, "limit": limit}
    params.update({k: v for k, v in (("label", label), ("assignee", assignee), ("q", text)) if v})
    with dataset_endpoint(url, dataset, None, "issues") as (client, path):
        found = client.api.json("GET", path, params=params)["results"]
    if not found:
        say(f"no {'' if state == 'all' else state + ' '}issues")
        return
    table = Table("#", "state", "title", "labels", "assignee", "author")
    for item in found:
        cells = (
            item["state"],
            item["title"],
            ", ".join(item["labels"]),
            item["assignee"] or "",
            item["author"],
        )
        table.add_row(str(item["number"]), *(Text(cell) for cell in cells))  # Text: no markup
    console.print(table)


@issue_app.command()
def show(
    dataset: str = DatasetArg, number: int = NumberArg, url: str | None = UrlOpt, purpose: str = PurposeOpt
) -> None:
    """One issue, its linked series and its comments."""
    with dataset_endpoint(url, dataset, purpose, "issues") as (client, path):
        found = client.api.json("GET", f"{path}/{number}")
        thread = client.api.json("GET", f"{path}/{number}/comments", params={"limit": 1000})["results"]
    say(_line(found))
    say(f"opened by {found['author']} on {found['created_at']}")
    if found["closed_by"]:
        say(f"closed by {found['closed_by']} on {found['closed_at']}")
    if found["body"]:
        say(found["body"])
    if found["series"]:
        say("series:")
        for link in found["series"]:
            say(_link_line(link))
    for item in thread:
        say(f"\n{item['author']} on {item['created_at']}:\n{item['body']}")


@issue_app.command()
def edit(
    dataset: str = DatasetArg,
    number: int = NumberArg,
    title: str | None = typer.Option(None, "--title", help="A new title."),
    body: str | None = typer.Option(None, "--body", "-b", help="A new description (markdown)."),
    labels: list[str] | None = typer.Option(
        None, "--label", "-l", help="The labels, replacing all of them (repeatable; --label '' clears)."
    ),
    assignee: str | None = typer.Option(None, "--assignee", "-a", help="A new assignee; '' unassigns."),
    url: str | None = UrlOpt,
) -> None:
    """Change an issue's title, description, labels or assignee; what is not given stays."""
    request = {
        key: value
        for key, value in (("title", title), ("body", body), ("labels", labels), ("assignee", assignee))
        if value is not None
    }
    if not request:
        raise typer.BadParameter("give at least one of --title, --body, --label, --assignee")
    with dataset_endpoint(url, dataset, None, "issues") as (client, path):
        edited = client.api.json("PATCH", f"{path}/{number}", json=request)
    say(f"edited {_line(edited)}")


@issue_app.command()
def comment(
    dataset: str = DatasetArg,
    number: int = NumberArg,
    body: str = typer.Option(..., "--body", "-b", help="The comment (markdown)."),
    url: str | None = UrlOpt,
) -> None:
    """Add a comment to an issue."""
    with dataset_endpoint(url, dataset, None, "issues") as (client, path):
        client.api.json("POST", f"{path}/{number}/comments", json={"body": body})
    say(f"commented on #{number}")


@issue_app.command()
def close(dataset: str = DatasetArg, number: int = NumberArg, url: str | None = UrlOpt) -> None:
    """Close an issue (done, or not going to be done)."""
    with dataset_endpoint(url, dataset, None, "issues") as (client, path):
        closed = client.api.json("POST", f"{path}/{number}/close")
    say(f"closed {_line(closed)}")


@issue_app.command()
def reopen(dataset: str = DatasetArg, number: int = NumberArg, url: str | None = UrlOpt) -> None:
    """Open a closed issue again."""
    with dataset_endpoint(url, dataset, None, "issues") as (client, path):
        opened = client.api.json("POST", f"{path}/{number}/reopen")
    say(f"reopened {_line(opened)}")


@issue_app.command()
def link(
    dataset: str = DatasetArg,
    number: int = NumberArg,
    series: str = typer.Option(..., "--series", "-s", help="The SeriesInstanceUID (or nifti:<blob>)."),
    ref: str = typer.Option(..., "--ref", "-r", help="Branch, tag or commit it is seen at (pinned)."),
    file: str = typer.Option("", "--path", help="One file of the series, optional."),
    note: str = typer.Option("", "--note", "-n"),
    url: str | None = UrlOpt,
    purpose: str = PurposeOpt,
) -> None:
    """Link a series, pinned at the commit a ref names now, to an issue."""
    request = {"ref": ref, "series_instance_uid": series, "path": file, "note": note}
    with dataset_endpoint(url, dataset, purpose, "issues") as (client, path):
        linked = client.api.json("POST", f"{path}/{number}/series", json=request)
    at = linked["commit"][:12]
    say(f"linked to #{number}: {linked['series_instance_uid']} at {at} (link {linked['id']})")


@issue_app.command()
def unlink(
    dataset: str = DatasetArg,
    number: int = NumberArg,
    link_id: int = typer.Argument(..., help="The link's id, as `imagehub issue show` lists it."),
    url: str | None = UrlOpt,
) -> None:
    """Remove a series link from an issue."""
    with dataset_endpoint(url, dataset, None, "issues") as (client, path):
        client.api.request("DELETE", f"{path}/{number}/series/{link_id}")
    say(f"unlinked link {link_id} from #{number}")
