"""Pinned data for training: a torch Dataset and MONAI data dicts over one pulled commit.

Whatever ref was asked for, what is served is the commit it resolved to, recorded on the
dataset object (``.commit``) and in every MONAI item, so a run can always say exactly
which version of the data it saw.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from imagehub.core.errors import InvalidInput
from imagehub.sdk.client import RemoteDataset


def pull_pinned(
    remote: RemoteDataset, ref: str, dest: str | Path, pattern: str = "*"
) -> tuple[str, list[Path]]:
    """Pull ``ref`` into ``dest``; return the commit and the pulled files matching ``pattern``."""
    commit = remote.pull(ref, dest)
    root = Path(dest)
    files = sorted(root / e.path for e in remote.files(commit) if fnmatch.fnmatchcase(e.path, pattern))
    return commit, files


def monai_data_dicts(
    remote: RemoteDataset, ref: str, dest: str | Path, pattern: str = "*.nii*", key: str = "image"
) -> list[dict[str, Any]]:
    """MONAI-style items ``{key: file, "commit": id, "path": dataset path}`` of a pinned version."""
    commit, files = pull_pinned(remote, ref, dest, pattern)
    return _items(commit, files, Path(dest), key)


def _items(commit: str, files: list[Path], root: Path, key: str) -> list[dict[str, Any]]:
    return [{key: str(f), "commit": commit, "path": f.relative_to(root).as_posix()} for f in files]


def load_volume(path: Path) -> torch.Tensor:
    """A volume as a float tensor, read with MONAI's LoadImage (channel first)."""
    from monai.transforms import EnsureChannelFirst, LoadImage  # type: ignore[attr-defined]

    try:
        image = LoadImage(image_only=True)(str(path))
        return torch.as_tensor(EnsureChannelFirst()(image), dtype=torch.float32)
    except Exception as exc:  # MONAI's own errors are tracebacks deep in its readers
        raise InvalidInput(f"{path} cannot be read as an image volume ({type(exc).__name__}: {exc})") from exc


class PinnedDataset(Dataset[dict[str, Any]]):
    """Items of one commit: ``{"image": tensor, "path": ..., "commit": ...}``."""

    def __init__(
        self,
        items: list[dict[str, Any]],
        *,
        key: str = "image",
        loader: Callable[[Path], torch.Tensor] = load_volume,
        transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        commits = {item["commit"] for item in items}
        if len(commits) > 1:
            raise ValueError("a pinned dataset holds one commit; these items come from several")
        self.items = items
        self.key = key
        self.loader = loader
        self.transform = transform
        self.commit = commits.pop() if commits else None

    @classmethod
    def from_remote(
        cls,
        remote: RemoteDataset,
        ref: str,
        dest: str | Path,
        pattern: str = "*.nii*",
        *,
        key: str = "image",
        **kwargs: Any,
    ) -> PinnedDataset:
        """Pull ``ref`` and serve its files matching ``pattern``; none matching is an error,
        as a training run on nothing would still seem to record a version."""
        commit, files = pull_pinned(remote, ref, dest, pattern)
        if not files:
            raise InvalidInput(f"no file of {remote.full_name} at {commit[:12]} matches {pattern!r}")
        return cls(_items(commit, files, Path(dest), key), key=key, **kwargs)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = dict(self.items[index])
        item[self.key] = self.loader(Path(item[self.key]))
        return self.transform(item) if self.transform else item
