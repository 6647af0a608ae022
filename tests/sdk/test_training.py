"""A torch DataLoader over a pulled, pinned version, volumes loaded with MONAI's LoadImage."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from imagehub.core.errors import InvalidInput
from imagehub.sdk.client import RemoteDataset
from imagehub.sdk.ingest import ingest_folder
from imagehub.sdk.training import PinnedDataset, load_volume, monai_data_dicts
from tests.conftest import Server


def write_volumes(folder: Path, count: int) -> dict[str, np.ndarray]:
    arrays = {}
    for i in range(count):
        data = np.full((8, 8, 4), i, dtype=np.float32) + np.arange(4, dtype=np.float32)
        path = folder / f"subject-{i}" / "t1.nii.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        nib.save(nib.Nifti1Image(data, affine=np.eye(4)), path)
        arrays[path.relative_to(folder).as_posix()] = data
    (folder / "README.txt").write_text("not an image")
    return arrays


def test_dataloader_iterates_a_pinned_version(server: Server) -> None:
    client = server.client()
    source = server.tmp / "source"
    arrays = write_volumes(source, 3)
    v1 = ingest_folder(client, source, "lab/mri", "main", "three subjects").commit
    remote = client.dataset("lab/mri")
    remote.create_tag("v1", "main")
    write_volumes(source, 5)  # the branch moves on; the tag stays
    ingest_folder(client, source, "lab/mri", "main", "five subjects")

    dataset = PinnedDataset.from_remote(remote, "v1", server.tmp / "pulled")
    assert dataset.commit == v1
    assert len(dataset) == 3
    seen = {}
    for batch in DataLoader(dataset, batch_size=2, shuffle=False):
        assert batch["image"].shape[1:] == (1, 8, 8, 4)  # channel first
        assert set(batch["commit"]) == {v1}
        for path, volume in zip(batch["path"], batch["image"], strict=True):
            seen[path] = volume
    assert set(seen) == set(arrays)
    for path, data in arrays.items():
        assert torch.allclose(seen[path][0], torch.from_numpy(data))

    latest = monai_data_dicts(remote, "main", server.tmp / "latest")
    assert len(latest) == 5
    assert {item["commit"] for item in latest} != {v1}

    labelled = PinnedDataset.from_remote(remote, "v1", server.tmp / "pulled", key="label")
    assert labelled[0]["label"].shape == (1, 8, 8, 4)
    with pytest.raises(InvalidInput, match=r"no file of lab/mri at [0-9a-f]{12} matches '\*\.dcm'"):
        PinnedDataset.from_remote(remote, "v1", server.tmp / "pulled", pattern="*.dcm")
    (server.tmp / "not-a-volume.nii").write_bytes(b"not an image at all")
    with pytest.raises(InvalidInput, match="cannot be read as an image volume"):
        load_volume(server.tmp / "not-a-volume.nii")


class _Streamed(torch.utils.data.Dataset[bytes]):
    """Reads each file through the SDK in the worker, as a streaming dataset would."""

    def __init__(self, remote: RemoteDataset, commit: str, paths: list[str]) -> None:
        self.remote, self.commit, self.paths = remote, commit, paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> bytes:
        return self.remote.open(self.paths[index], self.commit)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_workers_reading_through_the_sdk_each_get_their_own_files(server: Server, start: str) -> None:
    """Forked workers shared the parent's connection and read each other's answers; spawned
    ones could not be started, as the dataset did not pickle."""
    client = server.client()
    source = server.tmp / "files"
    source.mkdir()
    expected = {f"f{i:03d}.bin": f"content of file {i}".encode() * (i + 1) for i in range(40)}
    for name, data in expected.items():
        (source / name).write_bytes(data)
    commit = ingest_folder(client, source, "lab/many", "main", "forty files").commit
    remote = client.dataset("lab/many")
    paths = sorted(expected)
    assert remote.files(commit)  # the parent has used its connection before the workers start
    streamed = _Streamed(remote, commit, paths)
    loader = DataLoader(
        streamed, batch_size=None, num_workers=4, multiprocessing_context=start, persistent_workers=False
    )
    got = list(loader)
    assert [bytes(item) for item in got] == [expected[p] for p in paths]
