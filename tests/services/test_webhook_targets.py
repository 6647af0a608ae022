"""Webhooks may only reach public addresses unless the server allows private networks:
hooks to loopback, private, link-local (cloud metadata) and other non-public addresses are
refused when set, and a delivery whose host has come to resolve to one is not sent.

No test here sends traffic anywhere: every refusal comes before a connection, and names
that are not IP literals resolve through a stubbed ``getaddrinfo`` (``localhost`` aside).
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from imagehub.core.config import Settings
from imagehub.core.errors import InvalidInput
from imagehub.services import datasets, webhooks
from imagehub.services.platform import Platform
from tests.support.datasets import commit_files
from tests.support.webhook_receiver import webhook_receiver
from tests.support.webhooks import dataset_of, subscribe

PUBLIC = "93.184.216.34"  # never contacted: the sender in these tests records, it sends nothing


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """The production default: hooks may not reach private networks."""
    return Settings(environment="test", data_dir=tmp_path / "var", database_url=database_url)


@pytest.fixture
def brain(platform: Platform) -> Platform:
    assert not platform.settings.webhook_allow_private_networks
    with platform.sessions.begin() as session:
        datasets.create(session, owner="lab", name="brain", author="lab")
    return platform


def stub_dns(monkeypatch: pytest.MonkeyPatch, names: Mapping[str, list[str]]) -> None:
    """Resolve ``names`` to the given addresses, and any other name to nothing (an error)."""

    def getaddrinfo(host: str, port: object, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, 0))
            for a in names[host]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


class RecordingSender:
    """Records what it was asked to send, and sends nothing."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.addresses: list[tuple[str, ...]] = []

    def send(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float, addresses: Sequence[str] = ()
    ) -> webhooks.Reply:
        self.sent.append(url)
        self.addresses.append(tuple(addresses))
        return webhooks.Reply(200, "ok")


def deliver_refused(platform: Platform, hook_id: int) -> webhooks.LoggedDelivery:
    """Run the delivery queue, which must send nothing; the hook's one logged delivery."""
    sender = RecordingSender()
    assert webhooks.deliver_due(platform, sender=sender) == 1
    assert sender.sent == []
    with platform.sessions() as session:
        hook = webhooks.get_hook(session, dataset_of(session), hook_id)
        [logged] = webhooks.list_deliveries(session, hook)
    return logged


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:9/x", "127.0.0.1 is a private address (loopback)"),
        ("http://10.0.0.1/x", "10.0.0.1 is a private address (private)"),
        ("http://169.254.169.254/latest", "169.254.169.254 is a private address (link-local)"),
        ("http://[::1]/x", "::1 is a private address (loopback)"),
        ("http://localhost/x", "localhost does not resolve to a public address"),
        ("http://[::ffff:169.254.169.254]/x", "is a private address (link-local)"),
    ],
)
def test_a_hook_to_a_private_address_is_refused(brain: Platform, url: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=rf"^webhook URL refused: .*{re.escape(reason)}"):
        subscribe(brain, url, ["push"])
    with brain.sessions() as session:
        assert webhooks.list_hooks(session, dataset_of(session)) == []


def test_a_host_that_resolves_to_any_private_address_or_to_none_is_refused(
    brain: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    stub_dns(monkeypatch, {"split.example": [PUBLIC, "192.168.1.5"], "public.example": [PUBLIC]})
    with pytest.raises(InvalidInput, match=r"split\.example does not resolve to a public address"):
        subscribe(brain, "https://split.example/hook", ["push"])
    with pytest.raises(InvalidInput, match=r"nowhere\.example does not resolve to a public address"):
        subscribe(brain, "https://nowhere.example/hook", ["push"])
    # a name that resolves privately reads like one that does not resolve: no map of the intranet
    assert webhooks.refusal("https://split.example/") == webhooks.refusal("https://nowhere.example/").replace(
        "nowhere", "split"
    )
    subscribe(brain, "https://public.example/hook", ["push"])  # only checked, never contacted


def test_changing_a_hooks_url_to_a_private_address_is_refused(
    brain: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    stub_dns(monkeypatch, {"public.example": [PUBLIC]})
    hook_id = subscribe(brain, "https://public.example/hook", ["push"])
    for url in ("http://169.254.169.254/latest/meta-data/", "http://[::1]:8080/", "http://10.1.2.3/"):
        with brain.sessions.begin() as session:
            dataset = dataset_of(session)
            hook = webhooks.get_hook(session, dataset, hook_id)
            with pytest.raises(InvalidInput, match="is a private address"):
                webhooks.update_hook(session, dataset, hook, actor="lab", url=url)
    with brain.sessions() as session:
        assert webhooks.get_hook(session, dataset_of(session), hook_id).url == "https://public.example/hook"


def test_the_setting_lets_hooks_reach_private_networks(brain: Platform) -> None:
    hook_id = subscribe(brain, "http://10.0.0.1/x", ["push"], allow_private_networks=True)
    with brain.sessions.begin() as session:
        dataset = dataset_of(session)
        hook = webhooks.get_hook(session, dataset, hook_id)
        webhooks.update_hook(
            session, dataset, hook, actor="lab", url="http://127.0.0.1:9/x", allow_private_networks=True
        )
        assert hook.url == "http://127.0.0.1:9/x"


def test_a_delivery_to_a_host_turned_private_is_a_failed_attempt_with_no_request(
    brain: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    stub_dns(monkeypatch, {"receiver.example": [PUBLIC]})
    hook_id = subscribe(brain, "https://receiver.example/hook", ["push"])
    commit_files(brain, "lab", "brain", "main", {"a.dcm": b"A"})
    stub_dns(monkeypatch, {"receiver.example": ["169.254.169.254"]})  # the DNS record changed
    logged = deliver_refused(brain, hook_id)
    refused = "refused: receiver.example does not resolve to a public address"
    assert (logged.delivery.state, logged.delivery.attempts, logged.delivery.last_error) == (
        "pending",
        1,
        refused,
    )
    [attempt] = logged.attempts
    assert (attempt.status_code, attempt.error, attempt.response_excerpt) == (None, refused, "")


def test_a_delivery_connects_to_the_address_that_was_checked(
    brain: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name that resolves to a public address for the check and to loopback for the
    connection (DNS rebinding) reaches the public one: the sender is handed what was checked."""
    answers = iter([[PUBLIC], [PUBLIC], ["127.0.0.1"]])

    def getaddrinfo(host: str, port: object, *args: Any, **kwargs: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, 0)) for a in next(answers)]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    subscribe(brain, "https://rebind.example/hook", ["push"])  # the first lookup
    commit_files(brain, "lab", "brain", "main", {"a.dcm": b"A"})
    sender = RecordingSender()
    assert webhooks.deliver_due(brain, sender=sender) == 1  # the second
    assert (sender.sent, sender.addresses) == (["https://rebind.example/hook"], [(PUBLIC,)])


def test_the_http_sender_connects_to_the_given_address_under_the_urls_host_name() -> None:
    with webhook_receiver() as receiver:
        port = receiver.url.rsplit(":", 1)[1].split("/")[0]
        url = f"http://hooks.example:{port}/in"  # a name nothing resolves here
        dead = "127.0.0.2"  # the receiver listens on 127.0.0.1 only: refused here, the next is tried
        reply = webhooks.HttpSender().send(url, b"{}", {"X-ImageHub-Event": "ping"}, 5, (dead, "127.0.0.1"))
        assert reply.status_code == 200
        [received] = receiver.wait_for(1)
    assert (received.path, received.headers["host"]) == ("/in", f"hooks.example:{port}")


@contextmanager
def black_hole(address: str, port: int) -> Iterator[None]:
    """A listener at ``address:port`` whose queue is full, so further connections hang
    unanswered, as behind a firewall that drops packets."""
    with socket.create_server((address, port), backlog=0) as listener:
        waiting = [socket.socket() for _ in range(3)]
        for peer in waiting:
            peer.setblocking(False)
            peer.connect_ex(listener.getsockname())
        try:
            yield
        finally:
            for peer in waiting:
                peer.close()


def test_an_address_that_drops_connections_leaves_time_for_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # a proxy would get nowhere: not used
    with webhook_receiver() as receiver:
        port = int(receiver.url.rsplit(":", 1)[1].split("/")[0])
        with black_hole("127.0.0.3", port):
            started = time.monotonic()
            reply = webhooks.HttpSender().send(
                f"http://hooks.example:{port}/in", b"{}", {}, 4, ("127.0.0.3", "127.0.0.1")
            )
        assert reply.status_code == 200
        assert 1.5 < time.monotonic() - started < 3.5  # half of the 4 s went to the silent address
        assert len(receiver.wait_for(1)) == 1


def test_a_hook_set_while_allowed_is_not_sent_once_the_setting_is_off(brain: Platform) -> None:
    hook_id = subscribe(brain, "http://127.0.0.1:9/x", ["push"], allow_private_networks=True)
    commit_files(brain, "lab", "brain", "main", {"a.dcm": b"A"})
    [attempt] = deliver_refused(brain, hook_id).attempts
    assert attempt.error == "refused: 127.0.0.1 is a private address (loopback)"


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://0.0.0.0/", "unspecified"),
        ("http://[::]/", "unspecified"),
        ("http://127.8.9.10/", "loopback"),
        ("http://2130706433/", "loopback"),  # 127.0.0.1 spelled as one number
        ("http://172.16.0.1/", "private"),
        ("http://192.168.0.1/", "private"),
        ("http://[fc00::1]/", "private"),
        ("http://[fe80::1]/", "link-local"),
        ("http://[::ffff:10.0.0.1]/", "private"),
        ("http://[2002:7f00:1::]/", "loopback"),  # 6to4 around 127.0.0.1
        ("http://224.0.0.1/", "multicast"),
        ("http://[ff02::1]/", "multicast"),
        ("http://240.0.0.1/", "reserved"),
        ("http://100.64.0.1/", "non-public"),
    ],
)
def test_every_kind_of_non_public_address_is_refused(url: str, kind: str) -> None:
    reason = webhooks.refusal(url)
    assert reason is not None
    assert reason.endswith(f"is a private address ({kind})")


@pytest.mark.parametrize("url", [f"http://{PUBLIC}/", "https://[2606:4700:4700::1111]:8443/hook"])
def test_public_addresses_may_be_reached(url: str) -> None:
    assert webhooks.refusal(url) is None
