"""Webhooks: tell other systems, over HTTP, what happened to a dataset.

Deliveries follow the outbox pattern: ``emit`` writes one pending row per subscribed
hook inside the caller's transaction, so a change that rolls back announces nothing,
and ``deliver_due`` (run by ``WebhookDispatcher`` in the server) sends the due rows
afterwards, retrying failures with exponential backoff. A paused (inactive) hook is
sent nothing: its pending deliveries wait until it is active again.

The body of a delivery is fixed when it is queued and stored as sent:
``{"event", "delivery", "dataset": "owner/name", "created_at", "payload"}``, compact
JSON with sorted keys. Every attempt sends the same bytes, signed with the hook's
secret in ``X-ImageHub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>``;
receivers check it with ``verify_signature`` and drop repeats by the delivery id.

A hook may only reach public addresses (no loopback, private, link-local such as cloud
metadata, reserved, multicast or unspecified ones): its host is resolved and checked when
the URL is set and again before every attempt, unless ``webhook_allow_private_networks``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from imagehub.core.config import Settings
from imagehub.core.errors import Conflict, InvalidInput, NotFound
from imagehub.core.redact import masked_url
from imagehub.core.vcs import CommitId
from imagehub.models import webhooks as queries
from imagehub.models.base import utcnow
from imagehub.models.dataset import Dataset, lock_dataset
from imagehub.models.vcs import SqlCommitStore, SqlRefStore
from imagehub.models.webhooks import EXCERPT_BYTES, Webhook, WebhookAttempt, WebhookDelivery
from imagehub.services import audit
from imagehub.services.platform import Platform

EVENTS = ("push", "proposal.opened", "proposal.merged", "release.published", "check.completed")
PING = "ping"  # sent on request only, to test a hook; no hook subscribes to it
MAX_PAGE = 1000
MAX_URL = 2048
MAX_SECRET = 255
MAX_HOOKS = 50  # per dataset: each event is stored once per hook
USER_AGENT = "ImageHub-Webhooks/1"
SIGNATURE_HEADER = "X-ImageHub-Signature-256"
LEASE_MARGIN = timedelta(seconds=60)  # beyond the attempt's timeout, before a claim lapses
_log = logging.getLogger(__name__)


# -- signing -----------------------------------------------------------------------------
def sign(secret: str, body: bytes) -> str:
    """The signature header value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` signs exactly ``body`` with ``secret``; for receivers (constant time)."""
    return hmac.compare_digest(sign(secret, body).encode(), (header or "").encode())


# -- managing hooks ----------------------------------------------------------------------


def events_of(hook: Webhook) -> list[str]:
    events: list[str] = json.loads(hook.events)
    return events


def _url(url: str) -> str:
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # an unbalanced IPv6 bracket, say
        raise InvalidInput(f"{url.strip()!r} is not a URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("a webhook URL must be an http:// or https:// URL with a host")
    if not url.strip().isascii() or any(char.isspace() or not char.isprintable() for char in url.strip()):
        raise InvalidInput("a webhook URL must be printable ASCII without spaces: percent-encode the rest")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise InvalidInput("a webhook URL's port must be a number from 1 to 65535")
    if len(url.strip()) > MAX_URL:
        raise InvalidInput(f"a webhook URL may have at most {MAX_URL} characters")
    return url.strip()


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _kind(address: IPAddress) -> str | None:
    """Why a hook may not reach ``address`` (None: it may); IPv4 inside IPv6 is judged as IPv4."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo or (None, None))[1]
        if embedded is not None:
            return _kind(embedded)
        if address.is_site_local:
            return "private"
    for kind, hit in (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        ("non-public", not address.is_global),  # e.g. shared address space 100.64.0.0/10
    ):
        if hit:
            return kind
    return None


def _resolve(host: str) -> list[IPAddress]:
    """Every address ``host`` stands for; an IP literal needs no lookup. Raises OSError."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except ValueError as exc:  # a label the IDNA codec rejects, a NUL in the name
        raise OSError(str(exc)) from None
    return [ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in found]


def refusal(url: str) -> str | None:
    """Why a hook may not be sent to ``url`` (None: it may): its host does not resolve, or
    any address it resolves to is not public."""
    return _vetted(url)[0]


def _vetted(url: str) -> tuple[str | None, tuple[str, ...]]:
    """(why a hook may not be sent to ``url``, or None; the public addresses to connect to).

    An address typed as such is told its kind; a name that is not public is not told
    whether it resolves at all, so that hooks cannot map the internal DNS."""
    host = urlsplit(url).hostname or ""
    hidden = f"{host} does not resolve to a public address"
    try:
        addresses = _resolve(host)
    except OSError:
        return hidden, ()
    kinds = sorted({kind for kind in map(_kind, addresses) if kind})
    if not addresses or (kinds and not _is_literal(host)):
        return hidden, ()
    if kinds:
        return f"{host} is a private address ({', '.join(kinds)})", ()
    return None, tuple(dict.fromkeys(map(str, addresses)))


def _is_literal(host: str) -> bool:
    """An address in any spelling (``2130706433`` and ``0x7f.1`` are 127.0.0.1 too)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        try:
            socket.inet_aton(host)
        except OSError:
            return False
    return True


def _target(url: str, allow_private_networks: bool) -> str:
    """``url`` if a hook may reach it; else InvalidInput naming why."""
    if not allow_private_networks:
        reason = refusal(url)
        if reason:
            raise InvalidInput(f"webhook URL refused: {reason}; a hook may only reach public addresses")
    return url


def _events(events: Sequence[str]) -> str:
    unknown = sorted(set(events) - set(EVENTS))
    if unknown:
        raise InvalidInput(f"unknown event(s) {', '.join(unknown)}; known: {', '.join(EVENTS)}")
    if not events:
        raise InvalidInput("a webhook needs at least one event")
    return json.dumps(sorted(set(events)))


def _secret(secret: str) -> str:
    if len(secret) > MAX_SECRET:
        raise InvalidInput(f"a webhook secret may have at most {MAX_SECRET} characters")
    return secret or secrets.token_hex(32)


def _record(
    session: Session, dataset: Dataset, hook: Webhook, actor: str, action: str, **details: object
) -> None:
    """One audit event per action by a person; the secret never goes in."""
    audit.record(
        session,
        actor=actor,
        action=f"webhook.{action}",
        dataset=dataset.full_name,
        object=f"webhook:{hook.id}",
        details=details,
    )


def create_hook(
    session: Session,
    dataset: Dataset,
    *,
    actor: str,
    url: str,
    events: Sequence[str],
    secret: str = "",
    active: bool = True,
    allow_private_networks: bool = False,
) -> Webhook:
    """Subscribe ``url`` to ``events``; an empty secret is generated (the caller shows it once).

    ``allow_private_networks`` (the ``webhook_allow_private_networks`` setting) lets the
    URL reach non-public addresses; else such a URL, or one whose host does not resolve,
    is refused.
    """
    target = _target(_url(url), allow_private_networks)  # resolves the host: before the lock
    lock_dataset(session, dataset)  # two hooks added at once both count against the limit
    if len(queries.hooks_of(session, dataset.id, limit=MAX_HOOKS)) >= MAX_HOOKS:
        raise Conflict(f"{dataset.full_name} has {MAX_HOOKS} webhooks, the most a dataset may have")
    hook = Webhook(
        dataset_id=dataset.id,
        url=target,
        events=_events(events),
        secret=_secret(secret),
        active=active,
        created_by=actor,
        created_at=utcnow(),
    )
    session.add(hook)
    session.flush()
    _record(
        session,
        dataset,
        hook,
        actor,
        "create",
        url=masked_url(hook.url),
        events=events_of(hook),
        active=active,
    )
    return hook


def list_hooks(session: Session, dataset: Dataset, *, after: int = 0, limit: int = 50) -> list[Webhook]:
    """One page of the dataset's hooks, by id."""
    if not 0 < limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}")
    return queries.hooks_of(session, dataset.id, after=after, limit=limit)


def get_hook(session: Session, dataset: Dataset, hook_id: int) -> Webhook:
    hook = session.get(Webhook, hook_id)
    if hook is None or hook.dataset_id != dataset.id:
        raise NotFound(f"no webhook {hook_id} in {dataset.full_name}")
    return hook


def update_hook(
    session: Session,
    dataset: Dataset,
    hook: Webhook,
    *,
    actor: str,
    url: str | None = None,
    events: Sequence[str] | None = None,
    secret: str | None = None,
    active: bool | None = None,
    allow_private_networks: bool = False,
) -> Webhook:
    """Change what is given; a new secret applies to deliveries sent from now on.

    A new URL is checked as in ``create_hook``.
    """
    changed: dict[str, object] = {}
    if url is not None and url.strip() == masked_url(hook.url) != hook.url:
        url = None  # the URL as listed, its password masked, sent back unchanged: kept as it is
    if url is not None:
        hook.url = _target(_url(url), allow_private_networks)
        changed["url"] = masked_url(hook.url)
    if events is not None:
        hook.events = _events(events)
        changed["events"] = events_of(hook)
    if secret is not None:
        if not secret:
            raise InvalidInput("a new webhook secret must not be empty")
        hook.secret = _secret(secret)
        changed["secret_rotated"] = True
    if active is not None:
        hook.active = changed["active"] = active
    _record(session, dataset, hook, actor, "update", changed=changed)
    return hook


def delete_hook(session: Session, dataset: Dataset, hook: Webhook, *, actor: str) -> None:
    """Remove the hook with its delivery log."""
    _record(session, dataset, hook, actor, "delete", url=masked_url(hook.url))
    session.delete(hook)
    session.flush()


# -- queueing ----------------------------------------------------------------------------
def _queue(session: Session, hook: Webhook, envelope: dict[str, Any]) -> WebhookDelivery:
    """A pending delivery due now, under a fresh delivery id."""
    delivery_id, now = str(uuid.uuid4()), utcnow()
    body = json.dumps({**envelope, "delivery": delivery_id}, sort_keys=True, separators=(",", ":"))
    delivery = WebhookDelivery(
        webhook_id=hook.id,
        delivery=delivery_id,
        event=envelope["event"],
        payload=body,
        state="pending",
        attempts=0,
        next_attempt_at=now,
        last_error="",
        created_at=now,
    )
    session.add(delivery)
    return delivery


def _envelope(dataset: Dataset, event: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "event": event,
        "dataset": dataset.full_name,
        "created_at": utcnow().isoformat(),
        "payload": payload,
    }


def emit(session: Session, dataset: Dataset, event: str, payload: Mapping[str, Any]) -> int:
    """Queue ``event`` for every active hook of the dataset subscribed to it, in the caller's
    transaction (nothing is sent if it rolls back); returns how many deliveries were queued.

    ``payload`` must be JSON-serialisable; it is sent as the body's ``payload``.
    """
    if event not in EVENTS:
        raise InvalidInput(f"unknown webhook event {event!r}")
    hooks = [h for h in queries.hooks_of(session, dataset.id) if h.active and event in events_of(h)]
    envelope = _envelope(dataset, event, payload)
    for hook in hooks:
        _queue(session, hook, envelope)
    session.flush()
    return len(hooks)


def record_push(
    session: Session, dataset: Dataset, branch: str, before: str, after: str, actor: str, message: str
) -> int:
    """Announce that ``branch`` moved from ``before`` to ``after``. A raw (PHI) branch's
    commit message may name a patient, and receivers state no purpose: it is left out."""
    phi = dataset.is_phi_branch(branch)
    payload = {
        "branch": branch,
        "before": before,
        "after": after,
        "actor": actor,
        "message": "" if phi else message,
        "phi_branch": phi,
    }
    return emit(session, dataset, "push", payload)


class PushNotifyingRefs(SqlRefStore):
    """A dataset's refs that announce every branch move as a ``push``.

    Commits, merges, reverts and zero-copy commits all end in one compare-and-swap,
    whatever the entry point (REST, DICOMweb STOW, the portal, imports, the pipeline),
    so this is the one place that sees every push.
    """

    def __init__(self, session: Session, dataset: Dataset) -> None:
        super().__init__(session, dataset.id)
        self.dataset = dataset

    def compare_and_swap(self, name: str, expected: CommitId, new: CommitId) -> None:
        super().compare_and_swap(name, expected, new)
        commit = SqlCommitStore(self.session, self.dataset.id).get_many([new])[new]
        record_push(self.session, self.dataset, name, expected, new, commit.author, commit.message)


def _require_active(hook: Webhook, doing: str) -> None:
    if not hook.active:
        raise Conflict(f"webhook {hook.id} is inactive: activate it to {doing}")


def ping(session: Session, dataset: Dataset, hook: Webhook, *, actor: str) -> WebhookDelivery:
    """Queue a ``ping`` to this hook alone, to check that its receiver answers."""
    _require_active(hook, "ping it")
    delivery = _queue(
        session, hook, _envelope(dataset, PING, {"hook_id": hook.id, "events": events_of(hook)})
    )
    session.flush()
    _record(session, dataset, hook, actor, "ping", delivery=delivery.delivery)
    return delivery


def redeliver(session: Session, hook: Webhook, delivery_uuid: str, *, actor: str) -> WebhookDelivery:
    """Queue the same body again under a new delivery id; the original keeps its log."""
    _require_active(hook, "redeliver")
    original = session.scalar(
        select(WebhookDelivery).where(
            WebhookDelivery.webhook_id == hook.id, WebhookDelivery.delivery == delivery_uuid
        )
    )
    if original is None:
        raise NotFound(f"no delivery {delivery_uuid} of webhook {hook.id}")
    again = _queue(session, hook, json.loads(original.payload))
    session.flush()
    dataset = session.get(Dataset, hook.dataset_id)
    assert dataset is not None, "a hook's dataset is removed with it"
    _record(session, dataset, hook, actor, "redeliver", original=delivery_uuid, delivery=again.delivery)
    return again


@dataclass(frozen=True)
class LoggedDelivery:
    delivery: WebhookDelivery
    attempts: list[WebhookAttempt]


def list_deliveries(
    session: Session, hook: Webhook, *, after: int = 0, limit: int = 50
) -> list[LoggedDelivery]:
    """One page of the hook's delivery log, oldest first, each with its attempts."""
    if not 0 < limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}")
    deliveries = queries.deliveries_of(session, hook.id, after=after, limit=limit)
    attempts = queries.attempts_of(session, [d.id for d in deliveries])
    return [LoggedDelivery(d, attempts[d.id]) for d in deliveries]


# -- sending -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Reply:
    status_code: int
    excerpt: str  # the start of the response body, at most EXCERPT_BYTES


class WebhookSender(Protocol):
    def send(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float, addresses: Sequence[str] = ()
    ) -> Reply:
        """POST ``body`` (to the first of ``addresses`` that takes a connection, when given,
        instead of looking the host up again), taking no more than ``timeout`` seconds in
        all; raise on any network failure."""


class HttpSender:
    """The default driver: httpx, no redirects followed, reading no more than an excerpt.

    The timeout bounds the whole attempt: httpx's own bounds each read, so a receiver that
    trickles a byte at a time would otherwise hold a sender for as long as it likes."""

    def send(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float, addresses: Sequence[str] = ()
    ) -> Reply:
        try:
            return asyncio.run(
                asyncio.wait_for(self._post_any(url, body, headers, timeout, addresses), timeout)
            )
        except TimeoutError:
            raise TimeoutError(f"no complete answer within {timeout:g} s") from None

    async def _post_any(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float, addresses: Sequence[str]
    ) -> Reply:
        """Each address in turn until one takes the connection, as a lookup's caller would;
        each has its share of the time to connect, so one that drops packets (an IPv6
        address behind a firewall) leaves time for the next."""
        bounds = httpx.Timeout(timeout, connect=timeout / max(len(addresses), 1))
        for address in addresses[:-1]:
            try:
                return await self._post(url, body, headers, bounds, address)
            except (httpx.ConnectError, httpx.ConnectTimeout):
                continue
        return await self._post(url, body, headers, bounds, addresses[-1] if addresses else "")

    async def _post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: httpx.Timeout, address: str
    ) -> Reply:
        sent_headers, extensions = dict(headers), dict[str, Any]()
        if address:  # connect to the address that was checked, naming the host as the URL does
            url, sent_headers["Host"], extensions = _pinned(url, address)
        # No proxy from the environment: a proxy would connect wherever its own lookup says
        # (undoing the pinning), and would see the address, not the host name, for TLS.
        async with (
            httpx.AsyncClient(timeout=timeout, trust_env=False) as client,
            client.stream("POST", url, content=body, headers=sent_headers, extensions=extensions) as response,
        ):
            excerpt = bytearray()
            async for chunk in response.aiter_bytes():
                excerpt += chunk
                if len(excerpt) >= EXCERPT_BYTES:
                    break
        return Reply(response.status_code, excerpt[:EXCERPT_BYTES].decode("utf-8", "replace"))


def _pinned(url: str, address: str) -> tuple[str, str, dict[str, Any]]:
    """``url`` with its host replaced by ``address``; the Host header and (for TLS) the
    server name that still name the host, so that virtual hosts and certificates work."""
    parts = urlsplit(url)
    userinfo, _, host = parts.netloc.rpartition("@")
    netloc = (f"[{address}]" if ":" in address else address) + (
        f":{parts.port}" if parts.port is not None else ""
    )
    extensions = {"sni_hostname": parts.hostname or ""} if parts.scheme == "https" else {}
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{netloc}" if userinfo else netloc)), host, extensions


@dataclass(frozen=True)
class _Job:
    """A claimed delivery: what to send, and the attempt count it was claimed at."""

    id: int
    delivery: str
    event: str
    body: bytes
    url: str
    secret: str
    attempts: int


@dataclass(frozen=True)
class _Outcome:
    started_at: datetime
    duration_ms: int
    status_code: int | None
    error: str
    excerpt: str

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def retry_delay(settings: Settings, attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: doubling from the base, capped."""
    base, cap = settings.webhook_backoff_seconds, settings.webhook_backoff_cap_seconds
    return timedelta(seconds=min(base * 2 ** (attempts - 1), cap))


def _claim(platform: Platform, now: datetime) -> _Job | None:
    """Lease the oldest due delivery by pushing its next attempt past the request timeout.

    The conditional update makes the claim safe on every backend (a second dispatcher
    finds the row no longer due); on PostgreSQL SKIP LOCKED also keeps dispatchers from
    queueing behind each other's row locks. A dispatcher that dies mid-send leaves the
    lease to lapse, and the delivery is sent again. Deliveries of inactive hooks wait, and
    those of a deleted dataset (until it is restored).
    """
    lease = now + timedelta(seconds=platform.settings.webhook_timeout_seconds) + LEASE_MARGIN
    sendable = select(Webhook.id).join(Dataset, Dataset.id == Webhook.dataset_id)
    due = (
        WebhookDelivery.state == "pending",
        WebhookDelivery.next_attempt_at <= now,
        WebhookDelivery.webhook_id.in_(
            sendable.where(Webhook.active.is_(True), Dataset.deleted_at.is_(None))
        ),
    )
    with platform.sessions.begin() as session:
        while True:
            found = session.scalar(
                select(WebhookDelivery.id)
                .where(*due)
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if found is None:
                return None
            claimed = session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == found, *due)
                .values(next_attempt_at=lease)
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount == 1:  # type: ignore[attr-defined]
                break
        delivery = session.get(WebhookDelivery, found)
        assert delivery is not None
        hook = session.get(Webhook, delivery.webhook_id)
        assert hook is not None
        return _Job(
            delivery.id,
            delivery.delivery,
            delivery.event,
            delivery.payload.encode(),
            hook.url,
            hook.secret,
            delivery.attempts,
        )


def _attempt(
    sender: WebhookSender, job: _Job, timeout: float, started_at: datetime, *, allow_private_networks: bool
) -> _Outcome:
    addresses: tuple[str, ...] = ()
    if not allow_private_networks:  # again, and connect to what was checked: DNS may change
        clock = time.monotonic()
        reason, addresses = _vetted(job.url)
        if reason:
            elapsed = int((time.monotonic() - clock) * 1000)
            return _Outcome(started_at, elapsed, None, f"refused: {reason}", "")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-ImageHub-Event": job.event,
        "X-ImageHub-Delivery": job.delivery,
        SIGNATURE_HEADER: sign(job.secret, job.body),
    }
    clock = time.monotonic()
    try:
        reply = sender.send(job.url, job.body, headers, timeout, addresses)
    except Exception as exc:  # whatever the receiver or the network does is logged, never raised
        elapsed = int((time.monotonic() - clock) * 1000)
        return _Outcome(started_at, elapsed, None, f"{type(exc).__name__}: {exc}", "")
    elapsed = int((time.monotonic() - clock) * 1000)
    error = "" if 200 <= reply.status_code < 300 else f"HTTP {reply.status_code}"
    return _Outcome(started_at, elapsed, reply.status_code, error, reply.excerpt[:EXCERPT_BYTES])


def _settle(platform: Platform, job: _Job, outcome: _Outcome, now: datetime) -> None:
    """Record the attempt and move the delivery on: delivered, retried later, or failed.

    Guarded by the attempt count it was claimed at, so a claim that lapsed mid-send
    cannot count twice; a delivery deleted meanwhile (its hook was) records nothing.
    """
    settings = platform.settings
    number = job.attempts + 1
    values: dict[str, object] = {
        "attempts": number,
        "last_status_code": outcome.status_code,
        "last_error": outcome.error,
    }
    if outcome.ok:
        values.update(state="delivered", delivered_at=now)
    elif number >= settings.webhook_max_attempts:
        values.update(state="failed")
    else:
        values.update(next_attempt_at=now + retry_delay(settings, number))
    with platform.sessions.begin() as session:
        moved = session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == job.id,
                WebhookDelivery.state == "pending",
                WebhookDelivery.attempts == job.attempts,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount == 1:  # type: ignore[attr-defined]
            session.add(
                WebhookAttempt(
                    delivery_id=job.id,
                    number=number,
                    started_at=outcome.started_at,
                    duration_ms=outcome.duration_ms,
                    status_code=outcome.status_code,
                    error=outcome.error,
                    response_excerpt=outcome.excerpt,
                )
            )


def deliver_due(
    platform: Platform, *, now: datetime | None = None, limit: int = 100, sender: WebhookSender | None = None
) -> int:
    """Send up to ``limit`` due deliveries, one at a time; returns how many were attempted.

    ``now`` pins the clock (tests); receivers' and network failures are recorded as
    attempts, never raised.
    """
    sender = sender or HttpSender()
    attempted = 0
    while attempted < limit:
        at = now or utcnow()
        job = _claim(platform, at)
        if job is None:
            break
        settings = platform.settings
        outcome = _attempt(
            sender,
            job,
            settings.webhook_timeout_seconds,
            at,
            allow_private_networks=settings.webhook_allow_private_networks,
        )
        _settle(platform, job, outcome, at)
        attempted += 1
    return attempted


class WebhookDispatcher:
    """Sends due deliveries from ``webhook_senders`` background threads, polling every
    ``webhook_poll_seconds``: a receiver that is slow to answer holds one of them.

    ``stop`` returns once the deliveries in flight, if any, are settled (at most one
    request timeout).
    """

    def __init__(self, platform: Platform, *, sender: WebhookSender | None = None) -> None:
        self._platform = platform
        self._sender = sender or HttpSender()
        self._stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, name=f"imagehub-webhooks-{n}", daemon=True)
            for n in range(platform.settings.webhook_senders)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:  # one delivery at a time, so that stopping waits for one request at most
                busy = deliver_due(self._platform, limit=1, sender=self._sender) > 0
            except Exception:  # a database outage must not end the thread: try again next poll
                _log.exception("sending webhook deliveries failed")
                busy = False
            if not busy:
                self._stopping.wait(self._platform.settings.webhook_poll_seconds)


@contextmanager
def dispatching(platform: Platform, *, sender: WebhookSender | None = None) -> Iterator[None]:
    """Run a dispatcher for the duration of the block, unless ``webhook_poll_seconds`` <= 0."""
    if platform.settings.webhook_poll_seconds <= 0:
        yield
        return
    dispatcher = WebhookDispatcher(platform, sender=sender)
    dispatcher.start()
    try:
        yield
    finally:
        dispatcher.stop()
