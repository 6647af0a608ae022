"""Python SDK and working copies: talk to an ImageHub server over HTTP only."""

from imagehub.sdk.client import Client, RemoteDataset, RemoteEntry
from imagehub.sdk.workcopy import WorkingCopy

__all__ = ["Client", "RemoteDataset", "RemoteEntry", "WorkingCopy"]
