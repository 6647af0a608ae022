"""Who has shown they hold a blob's bytes, by uploading them.

Blobs are stored once for the whole server, so a blob id alone must not open its bytes: a
client that names a blob in a commit, or asks whether the server has it, is answered as
if the server lacked it until that user has uploaded the bytes themselves. Then the
upload costs transfer but no storage, and the id proves nothing it did not already have.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import ForeignKey, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from imagehub.models.base import Base, UTCDateTime, utcnow
from imagehub.models.upsert import upsert
from imagehub.models.vcs import batches


class BlobHolder(Base):
    __tablename__ = "vcs_blob_holders"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    blob: Mapped[str] = mapped_column(String(64), primary_key=True)
    since: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def record(session: Session, user_id: int, blobs: Iterable[str]) -> None:
    now = utcnow()
    rows = [{"user_id": user_id, "blob": b, "since": now} for b in sorted(set(blobs))]
    upsert(session, BlobHolder.__table__, rows, touch=())


def held(session: Session, user_id: int, blobs: Iterable[str]) -> set[str]:
    """Which of ``blobs`` the user has uploaded."""
    found: set[str] = set()
    for batch in batches(set(blobs)):
        query = select(BlobHolder.blob).where(BlobHolder.user_id == user_id, BlobHolder.blob.in_(batch))
        found.update(session.scalars(query))
    return found
