"""A staged change set: puts, deletes and prefix deletes, committed atomically."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from imagehub.core.errors import InvalidInput
from imagehub.core.paths import validate_relative_path, validate_stored_path
from imagehub.core.vcs.types import Entry, validate_blob_id


@dataclass
class ChangeSet:
    puts: dict[str, Entry] = field(default_factory=dict)
    deletes: set[str] = field(default_factory=set)
    delete_prefixes: list[str] = field(default_factory=list)

    def put(self, entry: Entry) -> ChangeSet:
        validate_relative_path(entry.path)
        validate_blob_id(entry.blob)
        if entry.size < 0:
            raise InvalidInput(f"negative size for {entry.path!r}")
        self.deletes.discard(entry.path)
        self.puts[entry.path] = entry
        return self

    def delete(self, path: str) -> ChangeSet:
        validate_stored_path(path)  # a path stored before today's rules can still go
        self.puts.pop(path, None)
        self.deletes.add(path)
        return self

    def delete_prefix(self, prefix: str) -> ChangeSet:
        """Delete every path under ``prefix`` (a directory-like ``a/b/`` or any string). An
        empty prefix, which would empty the whole dataset, is refused: name what goes."""
        if not prefix.rstrip("/"):
            raise InvalidInput("an empty prefix would delete every path: give the folders to delete")
        validate_stored_path(prefix.rstrip("/"), "prefix")
        self.delete_prefixes.append(prefix)
        return self

    def __bool__(self) -> bool:
        return bool(self.puts or self.deletes or self.delete_prefixes)

    def __len__(self) -> int:
        return len(self.puts) + len(self.deletes) + len(self.delete_prefixes)


def prefix_range(prefix: str) -> tuple[str, str | None]:
    """The key range ``[start, end)`` holding exactly the keys that start with ``prefix``."""
    stem = prefix.rstrip(chr(sys.maxunicode))  # the last code point has no successor: carry
    if not stem:
        return prefix, None
    return prefix, stem[:-1] + chr(ord(stem[-1]) + 1)
