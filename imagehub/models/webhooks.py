"""Webhooks: a dataset's subscriptions and the log of what was sent to them.

A delivery row is written in the same transaction as the change it announces (an
outbox), so a rolled-back change never reaches a receiver; a dispatcher sends the due
rows later and keeps one attempt row per HTTP request.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from imagehub.models.base import Base, UTCDateTime, utcnow

DELIVERY_STATES = ("pending", "delivered", "failed")
EXCERPT_BYTES = 1024  # of a receiver's response body, kept per attempt


class Webhook(Base):
    __tablename__ = "webhooks"
    __table_args__ = (Index("ix_webhooks_dataset_id", "dataset_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of event names
    secret: Mapped[str] = mapped_column(String(255))  # HMAC key; shown once, never listed
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    # The dispatcher's one query: pending rows whose next attempt is due, oldest first.
    __table_args__ = (Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"), index=True)
    delivery: Mapped[str] = mapped_column(String(36), unique=True)  # uuid, sent as X-ImageHub-Delivery
    event: Mapped[str] = mapped_column(String(32))
    payload: Mapped[str] = mapped_column(Text)  # the exact JSON body that is signed and sent
    state: Mapped[str] = mapped_column(String(10), default="pending")  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_ms: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str] = mapped_column(Text, default="")
    response_excerpt: Mapped[str] = mapped_column(Text, default="")


def hooks_of(session: Session, dataset_id: int, *, after: int = 0, limit: int | None = None) -> list[Webhook]:
    """A dataset's hooks by id, strictly after ``after``."""
    query = select(Webhook).where(Webhook.dataset_id == dataset_id, Webhook.id > after).order_by(Webhook.id)
    return list(session.scalars(query.limit(limit)))


def deliveries_of(session: Session, webhook_id: int, *, after: int, limit: int) -> list[WebhookDelivery]:
    """A hook's deliveries by id (oldest first), strictly after ``after``."""
    query = (
        select(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook_id, WebhookDelivery.id > after)
        .order_by(WebhookDelivery.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def attempts_of(session: Session, delivery_ids: Iterable[int]) -> dict[int, list[WebhookAttempt]]:
    """The attempts of each given delivery, in the order they were made."""
    found: dict[int, list[WebhookAttempt]] = {i: [] for i in delivery_ids}
    if found:
        query = (
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(found))
            .order_by(WebhookAttempt.delivery_id, WebhookAttempt.number)
        )
        for attempt in session.scalars(query):
            found[attempt.delivery_id].append(attempt)
    return found
