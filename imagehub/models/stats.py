"""Sizes of manifests, kept once computed: a tree id names its content, so they never change."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from imagehub.models.base import Base


class TreeStats(Base):
    __tablename__ = "tree_stats"

    tree: Mapped[str] = mapped_column(String(64), primary_key=True)
    files: Mapped[int] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(BigInteger)
