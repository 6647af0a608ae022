"""What the dataset sub-commands (`proposal`, `release`) share: options, a client, plain output."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

from imagehub.sdk.client import Client
from imagehub.sdk.credentials import chosen_server, token_for

console = Console()

DatasetArg = typer.Argument(..., help="owner/name")
UrlOpt = typer.Option(
    None, "--url", envvar="IMAGEHUB_URL", help="The ImageHub server (default: the one you last logged in to)."
)
PurposeOpt = typer.Option(
    None, "--purpose", envvar="IMAGEHUB_PURPOSE", help="Purpose of use, required for raw (PHI) branches."
)


@contextmanager
def dataset_endpoint(
    url: str | None, dataset: str, purpose: str | None, resource: str
) -> Iterator[tuple[Client, str]]:
    """An SDK client signed in as `imagehub login` left it, and the path of one of the dataset's resources."""
    server = chosen_server(url)
    client = Client(server, token_for(server), purpose=purpose)
    try:
        yield client, f"{client.dataset(dataset).base}/{resource}"
    finally:
        client.close()


def say(text: str) -> None:
    """Server text as it is: a title with [brackets] is not console markup."""
    console.print(text, markup=False, highlight=False)
