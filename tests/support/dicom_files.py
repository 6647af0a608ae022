"""pydicom's bundled test files, found on disk: ``get_testdata_file`` may try the network."""

from __future__ import annotations

from pathlib import Path

import pydicom

TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"


def pydicom_file(name: str) -> Path:
    path = TEST_FILES / name
    assert path.is_file(), f"pydicom test file {name} is missing from {TEST_FILES}"
    return path
