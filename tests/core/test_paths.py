"""Dataset paths: what may be stored, and what an older server stored that stays removable."""

from __future__ import annotations

import pytest

from imagehub.core.errors import InvalidInput
from imagehub.core.paths import path_problem, validate_relative_path, validate_stored_path


@pytest.mark.parametrize(
    "path",
    [".imagehub/config.json", "scans/.imagehub/config.json", "a/b/.IMAGEHUB/x", "a/.ImageHub"],
    ids=["top", "nested", "upper case", "file name"],
)
def test_no_path_holds_a_working_copy_state_folder(path: str) -> None:
    with pytest.raises(InvalidInput, match=r"a folder named \.imagehub, where working copies keep"):
        validate_relative_path(path)
    assert validate_stored_path(path) == path  # one stored earlier can still be deleted
    assert path_problem("scans/.imagehubx/a") is None


def test_no_name_in_a_path_is_longer_than_a_file_system_holds() -> None:
    assert path_problem("d/" + "x" * 255) is None
    assert path_problem("d/" + "é" * 127) is None  # 254 bytes
    for path in ("d/" + "x" * 256, "é" * 128 + "/f"):
        with pytest.raises(InvalidInput, match=r"a name over 255 bytes \(UTF-8\)"):
            validate_relative_path(path)
        assert validate_stored_path(path) == path
