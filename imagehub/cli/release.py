"""`imagehub release ...`: create, list, show and cite dataset releases on a server."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from imagehub.cli.dataset_cli import DatasetArg, PurposeOpt, UrlOpt, console, dataset_endpoint, say

release_app = typer.Typer(
    help="Releases: immutable, citable versions of a dataset (a tag plus notes).",
    no_args_is_help=True,
)


def _summary(summary: dict[str, Any]) -> str:
    text = f"{summary['files']} file(s), {summary['bytes']} bytes, {summary['series']} series"
    if summary["modalities"]:
        text += " (" + ", ".join(f"{k}: {v}" for k, v in summary["modalities"].items()) + ")"
    if not summary.get("indexed", True):
        text += " [not indexed by the pipeline]"
    return text


@release_app.command()
def create(
    dataset: str = DatasetArg,
    tag: str = typer.Option(..., "--tag", help="The release's tag, e.g. v1.0."),
    ref: str = typer.Option("main", "--ref", help="Branch, tag or commit to release."),
    title: str = typer.Option(..., "--title"),
    notes: str = typer.Option("", "--notes"),
    doi: str = typer.Option("", "--doi"),
    authors: list[str] = typer.Option([], "--author", help="An author (repeatable)."),
    url: str | None = UrlOpt,
    purpose: str = PurposeOpt,
) -> None:
    """Release a ref (branch, tag or commit) under a new, immutable tag."""
    body = {"ref": ref, "tag": tag, "title": title, "notes": notes, "doi": doi, "authors": authors}
    with dataset_endpoint(url, dataset, purpose, "releases") as (client, path):
        created = client.api.json("POST", path, json=body)
    say(f"released {created['tag']} at {created['commit'][:12]}: {created['title']}")
    say(_summary(created["summary"]))


@release_app.command("list")
def list_(
    dataset: str = DatasetArg,
    limit: int = typer.Option(50, "--limit", min=1, max=1000),
    url: str | None = UrlOpt,
) -> None:
    """List releases, newest first."""
    with dataset_endpoint(url, dataset, None, "releases") as (client, path):
        found = client.api.json("GET", path, params={"limit": limit})["results"]
    if not found:
        say("no releases")
        return
    table = Table("tag", "title", "commit", "created")
    for item in found:
        cells = (item["tag"], item["title"], item["commit"][:12], item["created_at"][:10])
        table.add_row(*(Text(cell) for cell in cells))
    console.print(table)


@release_app.command()
def show(dataset: str = DatasetArg, tag: str = typer.Argument(...), url: str | None = UrlOpt) -> None:
    """One release: its commit, notes and frozen summary."""
    with dataset_endpoint(url, dataset, None, "releases") as (client, path):
        found = client.api.json("GET", f"{path}/{tag}")
        server = client.api.url
    say(f"{found['tag']}: {found['title']}")
    say(f"commit {found['commit']}, by {found['created_by']} on {found['created_at'][:10]}")
    if found["doi"]:
        say(f"doi {found['doi']}")
    if found["authors"]:
        say("authors: " + ", ".join(found["authors"]))
    say(_summary(found["summary"]))
    if found["notes"]:
        say("")
        say(found["notes"])
    say("")
    say(f"download: imagehub clone {dataset} --ref {found['tag']} --url {server}")


@release_app.command()
def cite(
    dataset: str = DatasetArg,
    tag: str = typer.Argument(...),
    format: str = typer.Option("cff", "--format", help="cff or bibtex."),
    url: str | None = UrlOpt,
) -> None:
    """Print the release's citation (CITATION.cff or BibTeX)."""
    with dataset_endpoint(url, dataset, None, "releases") as (client, path):
        text = client.api.request("GET", f"{path}/{tag}/citation", params={"format": format}).text
    typer.echo(text, nl=False)
