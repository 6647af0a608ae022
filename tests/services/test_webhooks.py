"""Webhooks over the real databases, delivered to a real receiver on loopback: signatures,
every event after its action, the outbox under rollback, retries with backoff."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from imagehub.core.config import Settings
from imagehub.core.errors import Conflict
from imagehub.core.vcs import Repository
from imagehub.models.base import utcnow
from imagehub.services import checks, datasets, proposals, releases, webhooks
from imagehub.services.platform import Platform
from tests.support.datasets import commit_files, commit_in
from tests.support.ports import free_port
from tests.support.webhook_receiver import Receiver, webhook_receiver
from tests.support.webhooks import SECRET, dataset_of, subscribe


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Backoff 10 s doubling, capped at 25 s; four attempts, then the delivery fails; hooks
    may reach the receiver on loopback."""
    return Settings(
        environment="test",
        data_dir=tmp_path / "var",
        database_url=database_url,
        webhook_backoff_seconds=10,
        webhook_backoff_cap_seconds=25,
        webhook_max_attempts=4,
        webhook_timeout_seconds=5,
        webhook_allow_private_networks=True,
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as running:
        yield running


@pytest.fixture
def brain(platform: Platform) -> Platform:
    with platform.sessions.begin() as session:
        datasets.create(session, owner="lab", name="brain", author="lab")
    return platform


def repo_of(session: Session) -> Repository:
    return datasets.repository(session, dataset_of(session))


def log_of(platform: Platform, hook_id: int) -> list[webhooks.LoggedDelivery]:
    with platform.sessions() as session:
        hook = webhooks.get_hook(session, dataset_of(session), hook_id)
        return webhooks.list_deliveries(session, hook)


def test_a_delivery_is_signed_with_the_hooks_secret(brain: Platform, receiver: Receiver) -> None:
    subscribe(brain, receiver.url, ["push"])
    pushed = commit_files(brain, "lab", "brain", "main", {"a.dcm": b"A"}, message="first scan")
    assert webhooks.deliver_due(brain) == 1
    [got] = receiver.received
    signature = got.headers[webhooks.SIGNATURE_HEADER.lower()]
    assert signature == webhooks.sign(SECRET, got.body)
    assert webhooks.verify_signature(SECRET, got.body, signature)
    assert not webhooks.verify_signature("another secret", got.body, signature)
    assert not webhooks.verify_signature(SECRET, got.body.replace(b"first scan", b"forged scan"), signature)
    assert not webhooks.verify_signature(SECRET, got.body, None)

    body = got.json()
    assert (got.path, got.event, got.headers["x-imagehub-delivery"]) == ("/hook", "push", body["delivery"])
    assert got.headers["content-type"] == "application/json"
    assert got.headers["user-agent"] == webhooks.USER_AGENT
    assert (body["event"], body["dataset"]) == ("push", "lab/brain")
    assert body["payload"] == {
        "branch": "main",
        "before": pushed.parents[0],
        "after": pushed.id,
        "actor": "tester",
        "message": "first scan",
        "phi_branch": False,
    }


def test_a_push_to_a_raw_branch_leaves_its_message_out(brain: Platform, receiver: Receiver) -> None:
    subscribe(brain, receiver.url, ["push"])
    with brain.sessions.begin() as session:
        repo_of(session).create_branch("raw", "main")
    commit_files(brain, "lab", "brain", "raw", {"a.dcm": b"A"}, message="import of DOE^JOHN MRN 1234567")
    assert webhooks.deliver_due(brain) == 1
    [got] = receiver.received
    assert (got.json()["payload"]["message"], got.json()["payload"]["phi_branch"]) == ("", True)
    assert b"DOE^JOHN" not in got.body


def test_a_deleted_datasets_deliveries_wait_until_it_is_restored(brain: Platform, receiver: Receiver) -> None:
    subscribe(brain, receiver.url, ["push"])
    commit_files(brain, "lab", "brain", "main", {"a.dcm": b"A"})
    with brain.sessions.begin() as session:
        datasets.delete(session, owner="lab", name="brain")
    assert webhooks.deliver_due(brain) == 0
    assert receiver.received == []


def test_every_event_arrives_after_its_action(brain: Platform, receiver: Receiver) -> None:
    subscribe(brain, receiver.url)
    with brain.sessions.begin() as session:
        repo_of(session).create_branch("qc", "main")  # a new branch is no push
    assert webhooks.deliver_due(brain) == 0
    work = commit_files(brain, "lab", "brain", "qc", {"a.dcm": b"A"}, message="qc pass")
    with brain.sessions.begin() as session:
        opened = proposals.create(
            session,
            dataset_of(session),
            repo_of(session),
            actor="lab",
            source="qc",
            target="main",
            title="QC pass",
        )
        number = opened.number
    with brain.sessions.begin() as session:
        merged = proposals.merge(session, dataset_of(session), repo_of(session), number, actor="lab")
        merge_commit = merged.merged_commit
    with brain.sessions.begin() as session:
        releases.create(
            session,
            dataset_of(session),
            repo_of(session),
            tag="v1.0",
            ref="main",
            title="First release",
            actor="lab",
            authors=["Ada Lovelace"],
        )
    with brain.sessions.begin() as session:
        for status in ("pending", "failure"):  # a pending result announces nothing
            checks.report(
                session,
                dataset_of(session),
                work.id,
                "ci",
                status=status,
                reporter="ci-bot",
                summary=f"ci is {status}",
                details_url="https://ci.example/runs/7",
            )

    assert webhooks.deliver_due(brain) == 6
    got = {(r.event, r.json()["payload"].get("branch")): r.json()["payload"] for r in receiver.received}
    assert receiver.events() == [
        "push",
        "proposal.opened",
        "push",
        "proposal.merged",
        "release.published",
        "check.completed",
    ]
    assert got["push", "qc"]["after"] == work.id
    assert got["push", "main"]["after"] == merge_commit
    assert got["proposal.opened", None] == {
        "number": number,
        "title": "QC pass",
        "source": "qc",
        "source_dataset": None,
        "target": "main",
        "author": "lab",
        "reviewers": [],
    }
    assert got["proposal.merged", None] == {
        "number": number,
        "title": "QC pass",
        "source": "qc",
        "source_dataset": None,
        "target": "main",
        "author": "lab",
        "merged_by": "lab",
        "merged_commit": merge_commit,
        "source_commit": work.id,
    }
    assert got["release.published", None] == {
        "tag": "v1.0",
        "commit": merge_commit,
        "title": "First release",
        "doi": "",
        "authors": ["Ada Lovelace"],
        "created_by": "lab",
    }
    assert got["check.completed", None] == {
        "name": "ci",
        "commit": work.id,
        "status": "failure",
        "summary": "ci is failure",
        "report": f"/lab/brain/commits/{work.id}/checks/ci",
        "details_url": "https://ci.example/runs/7",
        "reported_by": "ci-bot",
    }


def test_only_active_hooks_subscribed_to_the_event_get_it(brain: Platform, receiver: Receiver) -> None:
    subscribe(brain, f"{receiver.url}?as=pushes", ["push"])
    subscribe(brain, f"{receiver.url}?as=releases", ["release.published"])
    subscribe(brain, f"{receiver.url}?as=inactive", active=False)
    commit_files(brain, "lab", "brain", "main", {"a.dcm": b"A"})
    assert webhooks.deliver_due(brain) == 1
    assert [r.path for r in receiver.received] == ["/hook?as=pushes"]


def commit_and_propose_then_fail(platform: Platform) -> None:
    with platform.sessions.begin() as session:
        commit_in(session, platform, "lab", "brain", "qc", {"a.dcm": b"A"}, "doomed")
        proposals.create(
            session, dataset_of(session), repo_of(session), actor="lab", source="qc", target="main", title="T"
        )
        raise RuntimeError("the request failed after the change")


def test_a_rolled_back_change_sends_nothing(brain: Platform, receiver: Receiver) -> None:
    hook_id = subscribe(brain, receiver.url)
    with brain.sessions.begin() as session:
        repo_of(session).create_branch("qc", "main")
    with pytest.raises(RuntimeError, match="after the change"):
        commit_and_propose_then_fail(brain)
    assert webhooks.deliver_due(brain) == 0
    assert receiver.received == []
    assert log_of(brain, hook_id) == []


def at(start: datetime, seconds: float) -> datetime:
    return start + timedelta(seconds=seconds)


def test_retries_back_off_exponentially_then_succeed(brain: Platform, receiver: Receiver) -> None:
    hook_id = subscribe(brain, receiver.url, ["push"])
    receiver.fail_next(2, status=503)
    commit_files(brain, "lab", "brain", "main", {"a.dcm": b"A"})
    start = utcnow()
    assert webhooks.deliver_due(brain, now=start) == 1  # fails; not retried in the same pass
    assert webhooks.deliver_due(brain, now=at(start, 9.9)) == 0
    assert webhooks.deliver_due(brain, now=at(start, 10)) == 1  # fails again: next in 20 s
    assert webhooks.deliver_due(brain, now=at(start, 29.9)) == 0
    assert webhooks.deliver_due(brain, now=at(start, 30)) == 1  # delivered
    assert webhooks.deliver_due(brain, now=at(start, 3600)) == 0

    [logged] = log_of(brain, hook_id)
    assert (logged.delivery.state, logged.delivery.attempts) == ("delivered", 3)
    assert (logged.delivery.last_status_code, logged.delivery.last_error) == (200, "")
    assert logged.delivery.delivered_at == at(start, 30)
    tried = [(a.number, a.started_at, a.status_code, a.error, a.response_excerpt) for a in logged.attempts]
    assert tried == [
        (1, start, 503, "HTTP 503", "nope"),
        (2, at(start, 10), 503, "HTTP 503", "nope"),
        (3, at(start, 30), 200, "", "ok"),
    ]
    assert len({(r.body, r.headers["x-imagehub-delivery"]) for r in receiver.received}) == 1  # same bytes


def test_a_delivery_fails_after_the_last_attempt(brain: Platform, receiver: Receiver) -> None:
    hook_id = subscribe(brain, receiver.url, ["push"])
    receiver.fail_next(100)
    commit_files(brain, "lab", "brain", "main", {"a.dcm": b"A"})
    start = utcnow()
    for when in (0, 10, 30, 55):  # waits of 10 s, 20 s, then 40 s capped at 25 s
        assert webhooks.deliver_due(brain, now=at(start, when - 0.1)) == 0
        assert webhooks.deliver_due(brain, now=at(start, when)) == 1
    assert webhooks.deliver_due(brain, now=at(start, 86400)) == 0
    [logged] = log_of(brain, hook_id)
    assert (logged.delivery.state, logged.delivery.attempts) == ("failed", 4)
    assert (logged.delivery.last_status_code, logged.delivery.last_error) == (500, "HTTP 500")
    assert [a.status_code for a in logged.attempts] == [500] * 4
    assert len(receiver.received) == 4


def test_an_unreachable_receiver_is_logged_as_an_attempt(brain: Platform) -> None:
    hook_id = subscribe(brain, f"http://127.0.0.1:{free_port()}/nobody-listens", ["push"])
    commit_files(brain, "lab", "brain", "main", {"a.dcm": b"A"})
    start = utcnow()
    assert webhooks.deliver_due(brain, now=start) == 1
    [logged] = log_of(brain, hook_id)
    assert (logged.delivery.state, logged.delivery.next_attempt_at) == ("pending", at(start, 10))
    [attempt] = logged.attempts
    assert attempt.status_code is None
    assert attempt.error.startswith("ConnectError")


def test_a_receiver_that_trickles_its_answer_is_cut_off_at_the_timeout() -> None:
    """httpx bounds each read; the attempt as a whole is bounded too."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def trickle() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\n")
            while not stop.wait(0.2):
                try:
                    connection.sendall(b"X")
                except OSError:
                    return

    server = threading.Thread(target=trickle, daemon=True)
    server.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/slow"
    started = time.monotonic()
    try:
        with pytest.raises(TimeoutError, match="no complete answer within 1 s"):
            webhooks.HttpSender().send(url, b"{}", {}, 1.0)
        assert time.monotonic() - started < 3
    finally:
        stop.set()
        listener.close()
        server.join(5)


def test_deleting_a_hook_drops_its_pending_deliveries(brain: Platform, receiver: Receiver) -> None:
    hook_id = subscribe(brain, receiver.url, ["push"])
    commit_files(brain, "lab", "brain", "main", {"a.dcm": b"A"})
    with brain.sessions.begin() as session:
        dataset = dataset_of(session)
        webhooks.delete_hook(session, dataset, webhooks.get_hook(session, dataset, hook_id), actor="lab")
    assert webhooks.deliver_due(brain) == 0
    assert receiver.received == []


def set_active(platform: Platform, hook_id: int, active: bool) -> None:
    with platform.sessions.begin() as session:
        dataset = dataset_of(session)
        hook = webhooks.get_hook(session, dataset, hook_id)
        webhooks.update_hook(session, dataset, hook, actor="lab", active=active)


def test_a_paused_hook_is_sent_nothing_until_active_again(brain: Platform, receiver: Receiver) -> None:
    hook_id = subscribe(brain, receiver.url, ["push"])
    receiver.fail_next(1)
    commit_files(brain, "lab", "brain", "main", {"a.dcm": b"A"})
    start = utcnow()
    assert webhooks.deliver_due(brain, now=start) == 1  # fails: a retry is due in 10 s
    set_active(brain, hook_id, False)
    assert webhooks.deliver_due(brain, now=at(start, 3600)) == 0
    with brain.sessions.begin() as session:
        dataset = dataset_of(session)
        hook = webhooks.get_hook(session, dataset, hook_id)
        with pytest.raises(Conflict, match="inactive: activate it to ping"):
            webhooks.ping(session, dataset, hook, actor="lab")
    set_active(brain, hook_id, True)
    assert webhooks.deliver_due(brain, now=at(start, 3600)) == 1
    [logged] = log_of(brain, hook_id)
    assert (logged.delivery.state, [a.status_code for a in logged.attempts]) == ("delivered", [500, 200])
