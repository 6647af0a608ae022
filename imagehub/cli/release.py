"""`imagehub release ...`: create, list, show and cite dataset releases on a server."""

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

release_app = typer.Typer(
    help="Releases: immutable, citable versions of a dataset (a tag plus notes).",
    no_args_is_help=True,
)
console = Console()

DatasetArg = typer.Argument(..., help="owner/name")
UrlOpt = typer.Option(..., "--url", envvar="IMAGEHUB_URL", help="The ImageHub server.")
PurposeOpt = typer.Option(
    None, "--purpose", envvar="IMAGEHUB_PURPOSE", help="Purpose of use, required for raw (PHI) branches."
)


@contextmanager
def _releases(url: str, dataset: str, purpose: str | None) -> Iterator[tuple[Client, str]]:
    client = Client(url, token_for(url), purpose=purpose)
    try:
        yield client, f"{client.dataset(dataset).base}/releases"
    finally:
        client.close()


def _say(text: str) -> None:
    console.print(text, markup=False, highlight=False)


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
    url: str = UrlOpt,
    purpose: str = PurposeOpt,
) -> None:
    """Release ``ref`` as ``tag``."""
    body = {"ref": ref, "tag": tag, "title": title, "notes": notes, "doi": doi, "authors": authors}
    with _releases(url, dataset, purpose) as (client, path):
        created = client.api.json("POST", path, json=body)
    _say(f"released {created['tag']} at {created['commit'][:12]}: {created['title']}")
    _say(_summary(created["summary"]))


@release_app.command("list")
def list_(
    dataset: str = DatasetArg,
    limit: int = typer.Option(50, "--limit", min=1, max=1000),
    url: str = UrlOpt,
) -> None:
    """List releases, newest first."""
    with _releases(url, dataset, None) as (client, path):
        found = client.api.json("GET", path, params={"limit": limit})["results"]
    if not found:
        _say("no releases")
        return
    table = Table("tag", "title", "commit", "created")
    for item in found:
        cells = (item["tag"], item["title"], item["commit"][:12], item["created_at"][:10])
        table.add_row(*(Text(cell) for cell in cells))
    console.print(table)


@release_app.command()
def show(dataset: str = DatasetArg, tag: str = typer.Argument(...), url: str = UrlOpt) -> None:
    """One release: its commit, notes and frozen summary."""
    with _releases(url, dataset, None) as (client, path):
        found = client.api.json("GET", f"{path}/{tag}")
    _say(f"{found['tag']}: {found['title']}")
    _say(f"commit {found['commit']}, by {found['created_by']} on {found['created_at'][:10]}")
    if found["doi"]:
        _say(f"doi {found['doi']}")
    if found["authors"]:
        _say("authors: " + ", ".join(found["authors"]))
    _say(_summary(found["summary"]))
    if found["notes"]:
        _say("")
        _say(found["notes"])
    _say("")
    _say(f"download: imagehub clone {dataset} --ref {found['tag']}")


@release_app.command()
def cite(
    dataset: str = DatasetArg,
    tag: str = typer.Argument(...),
    format: str = typer.Option("cff", "--format", help="cff or bibtex."),
    url: str = UrlOpt,
) -> None:
    """Print the release's citation (CITATION.cff or BibTeX)."""
    with _releases(url, dataset, None) as (client, path):
        text = client.api.request("GET", f"{path}/{tag}/citation", params={"format": format}).text
    typer.echo(text, nl=False)
