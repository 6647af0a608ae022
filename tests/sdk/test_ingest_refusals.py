"""An ingest the server would refuse is refused before a file is read or a byte is sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagehub.sdk.client import Client
from imagehub.sdk.http import RemoteError, RemoteNotFound
from imagehub.sdk.ingest import ingest_folder
from imagehub.sdk.objects import ObjectCache, sha256_file
from imagehub.services.platform import Platform
from tests.conftest import Server
from tests.support.accounts import make_user


@pytest.fixture
def export(tmp_path: Path) -> Path:
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "ct.dcm").write_bytes(b"PATIENT DOE" * 1000)
    return folder


def sent(client: Client, dataset: str, export: Path) -> bool:
    return not client.dataset(dataset).missing([sha256_file(export / "ct.dcm")])


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_raw_branch_without_a_purpose_is_refused_before_uploading(server: Server, export: Path) -> None:
    client = server.client()
    client.create_dataset("lab/seen")  # asks whether this person sent the file, anywhere
    with pytest.raises(RemoteError, match="state a purpose of use"):
        ingest_folder(client, export, "lab/scanner", "raw")
    assert not sent(client, "lab/seen", export)
    with pytest.raises(RemoteNotFound):  # the refused ingest left no dataset behind
        client.dataset("lab/scanner").info()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_token_whose_scope_is_too_narrow_is_named(server: Server, export: Path, platform: Platform) -> None:
    token = make_user(platform, "rita", scope="write")  # owns rita/*, but this token writes at most
    client = Client(server.url, token, cache=ObjectCache(server.tmp / "rita-cache"), purpose="import")
    with pytest.raises(RemoteError, match="token's scope, write, caps it: use a token of scope admin"):
        ingest_folder(client, export, "rita/mine", "raw")
    assert not sent(client, "rita/mine", export)
