"""The storage check: a store that works but holds none of the site's data fails it."""

from __future__ import annotations

from pathlib import Path

from imagehub.services import datasets
from imagehub.services.health import check_storage
from imagehub.services.platform import Platform, build_platform
from tests.support.datasets import commit_files


def test_a_store_holding_none_of_the_sites_blobs_fails_the_check(platform: Platform, tmp_path: Path) -> None:
    assert check_storage(platform).ok  # an empty site: nothing to look for
    with platform.sessions.begin() as session:
        datasets.create(session, owner="lab", name="scans", author="t")
    commit_files(platform, "lab", "scans", "main", {"a.dcm": b"one", "b.dcm": b"two"})
    assert check_storage(platform).ok
    mistyped = build_platform(
        platform.settings.model_copy(update={"storage_url": (tmp_path / "typo").as_uri()})
    )
    try:
        check = check_storage(mistyped)
    finally:
        mistyped.close()
    assert not check.ok
    assert "holds none of the 2 blobs indexed last" in check.detail
    assert "IMAGEHUB_STORAGE_URL" in check.detail
