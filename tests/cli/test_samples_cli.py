"""`imagehub samples` loads the demo datasets; the pipeline's code location loads as Dagster sees it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from imagehub.core.config import Settings
from imagehub.services.pipeline import branch_heads
from imagehub.services.platform import Platform
from tests.cli.test_cli import run

ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_samples_become_one_commit_each_for_the_sensor(platform: Platform, settings: Settings) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEHUB_")}
    env.update(
        IMAGEHUB_DATA_DIR=str(settings.data_dir), IMAGEHUB_DATABASE_URL=settings.effective_database_url
    )
    result = run(["samples", "--mr-series", str(ROOT / "tests" / "data" / "volume")], env)
    assert result.returncode == 0, result.stderr
    assert "loaded 4 sample datasets" in result.stdout
    heads = {(h.dataset, h.branch) for h in branch_heads(platform)}
    # Empty first commits are not pipeline work; each sample's import is.
    assert heads == {
        ("demo/ct-study", "raw"),
        ("demo/mr-brain", "main"),
        ("demo/dicom-zoo", "main"),
        ("demo/nifti", "main"),
    }
    again = run(["samples", "--mr-series", str(ROOT / "tests" / "data" / "volume")], env)
    assert again.returncode == 0, again.stderr  # a second run (or one after Ctrl-C) finishes the set
    assert "there already, left as it is" in again.stdout
    assert {(h.dataset, h.branch) for h in branch_heads(platform)} == heads


def test_workspace_loads_the_code_location(tmp_path: Path) -> None:
    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    dagster = Path(sys.executable).with_name("dagster")
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", str(ROOT / "workspace.yaml")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Validation successful for code location imagehub" in result.stderr + result.stdout


def test_the_demo_stops_before_it_starts_when_the_dagster_port_is_taken(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        env = {**os.environ, "DAGSTER_PORT": str(port), "DAGSTER_HOME": str(tmp_path / "dagster")}
        result = subprocess.run(
            ["bash", str(ROOT / "scripts" / "demo.sh")], env=env, capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 2
    assert f"port {port} is taken: stop what listens there, or set DAGSTER_PORT" in result.stderr
    assert not (tmp_path / "dagster").exists()  # nothing was started or written
