"""The viewer bundle's chunk names, from Vite's build manifest, so a page can preload its viewer.

Without a preload the browser learns of the 3 MB Cornerstone3D chunk only after running
`viewer.js`; with one it fetches and compiles the chunk while the page is still parsing.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

VIEWER_DIR = Path(__file__).resolve().parents[1] / "static" / "viewer"
MANIFEST = VIEWER_DIR / ".vite" / "manifest.json"
URL_PREFIX = "/static/viewer/"
CHUNKS = {"dicom": "dicomViewer", "nifti": "niftiViewer"}


@lru_cache(maxsize=4)
def _manifest(mtime_ns: int) -> dict[str, dict[str, object]]:
    del mtime_ns  # part of the cache key only: a rebuild is picked up without a restart
    loaded: dict[str, dict[str, object]] = json.loads(MANIFEST.read_text())
    return loaded


def preloads(kinds: set[str]) -> list[str]:
    """URLs of the chunks (and the chunks they import) that viewers of these kinds load."""
    try:
        manifest = _manifest(MANIFEST.stat().st_mtime_ns)
    except (OSError, ValueError):
        return []  # not built: pages fall back to thumbnails, nothing to preload
    wanted = {CHUNKS[k] for k in kinds if k in CHUNKS}
    found: list[str] = []
    pending = [key for key, item in manifest.items() if item.get("name") in wanted]
    while pending:
        item = manifest.get(pending.pop(), {})
        file = item.get("file")
        if isinstance(file, str) and file.endswith(".js") and URL_PREFIX + file not in found:
            found.append(URL_PREFIX + file)
            imports = item.get("imports")
            if isinstance(imports, list):
                pending.extend(i for i in imports if isinstance(i, str))
    return found
