"""Where heavy per-item work runs: in-process, or fanned out to Ray in batches."""

from imagehub.core.compute.base import Executor, batched
from imagehub.core.compute.registry import open_executor

__all__ = ["Executor", "batched", "open_executor"]
