"""Bad input to the client gets one clear line, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagehub.core.errors import InvalidInput
from imagehub.sdk.client import Client
from imagehub.sdk.http import Api, RemoteError
from imagehub.sdk.objects import ObjectCache
from tests.conftest import Server


@pytest.mark.parametrize("url", ["http://[::1", "ftp://files.example", "not a url", "http://"])
def test_a_url_that_names_no_server_is_refused(url: str) -> None:
    with pytest.raises(InvalidInput, match="URL"):
        Api(url, "token")


@pytest.mark.parametrize("token", ["ihp_caf\u00e9", "ihp_a b", "ihp_tab\there"])
def test_a_token_no_server_could_have_issued_is_refused(token: str) -> None:
    with pytest.raises(InvalidInput, match="copy it again"):
        Api("http://127.0.0.1:1", token)


def test_a_pasted_token_loses_the_spaces_around_it() -> None:
    api = Api("http://127.0.0.1:1/", "  ihp_secret\n")
    assert api.http.headers["Authorization"] == "Bearer ihp_secret"
    assert api.url == "http://127.0.0.1:1"


@pytest.mark.parametrize("where", ["/proc/no-such-cache", "file-not-folder"])
def test_a_cache_folder_that_cannot_be_used_is_named(tmp_path: Path, where: str) -> None:
    (tmp_path / "file-not-folder").write_text("a file")
    with pytest.raises(InvalidInput, match="IMAGEHUB_CACHE_DIR"):
        ObjectCache(tmp_path / where if not where.startswith("/") else Path(where))


@pytest.mark.parametrize(
    ("url", "dataset", "why"),
    [
        ("{root}/lab/brain", "lab/brain", "answered with a web page, not ImageHub's API"),  # a portal page
        ("{root}/api/v1", "lab/brain", "is no address of ImageHub's API"),  # the API's own prefix twice
    ],
)
def test_a_url_that_is_not_the_servers_root_is_named_as_such(
    server: Server, url: str, dataset: str, why: str
) -> None:
    client = Client(url.format(root=server.url), server.token)
    with pytest.raises(RemoteError) as refused:
        client.dataset(dataset).resolve("main")
    assert why in str(refused.value)
    assert "<" not in str(refused.value)  # no markup from the page
