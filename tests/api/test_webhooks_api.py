"""Webhooks over HTTP, against a live server and a receiver on loopback: who manages hooks,
what the answers show, the delivery log, ping and redeliver, and the server's own dispatcher."""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from imagehub.core.config import Settings
from imagehub.models.base import utcnow
from imagehub.sdk.client import Client, RemoteDataset, RemoteEntry
from imagehub.services import access, audit, datasets, webhooks
from imagehub.services.platform import Platform
from imagehub_api.app import create_app
from tests.support.accounts import bearer, make_user
from tests.support.live_server import live_server
from tests.support.platforms import migrated_platform
from tests.support.webhook_receiver import Receiver, webhook_receiver

DS = "/api/v1/datasets/olga/brain"
HOOKS = f"{DS}/hooks"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """No dispatcher in the server: these tests send due deliveries themselves, clock pinned;
    the receiver is on loopback, so hooks may reach private networks."""
    return Settings(
        environment="test",
        data_dir=tmp_path / "var",
        database_url=database_url,
        webhook_poll_seconds=0,
        webhook_allow_private_networks=True,
    )


@dataclass
class World:
    http: httpx.Client
    platform: Platform
    tokens: dict[str, str]
    receiver: Receiver
    remote: RemoteDataset  # olga's SDK client on olga/brain
    tmp: Path

    def as_(self, who: str) -> dict[str, str]:
        return bearer(self.tokens[who])

    def hook(self, events: list[str] | None = None, secret: str = "") -> dict[str, Any]:
        body = {"url": self.receiver.url, "events": events or list(webhooks.EVENTS), "secret": secret}
        created = self.http.post(HOOKS, json=body, headers=self.as_("olga"))
        assert created.status_code == 201, created.text
        return dict(created.json())

    def push(self, branch: str, path: str, content: bytes, message: str = "update") -> str:
        """Commit one file through the SDK and the REST API, as a client would."""
        return push_file(self.remote, self.tmp, branch, path, content, message)

    def log(self, hook_id: int, **params: int) -> dict[str, Any]:
        found = self.http.get(f"{HOOKS}/{hook_id}/deliveries", params=params, headers=self.as_("olga"))
        assert found.status_code == 200, found.text
        return dict(found.json())


def push_file(remote: RemoteDataset, tmp: Path, branch: str, path: str, content: bytes, message: str) -> str:
    local = tmp / hashlib.sha256(content).hexdigest()
    local.write_bytes(content)
    blob = hashlib.sha256(content).hexdigest()
    remote.upload(local, blob)
    entry = RemoteEntry(path, blob, len(content), "application/dicom")
    return str(remote.commit(branch, message=message, puts=[entry])["id"])


@pytest.fixture
def world(platform: Platform, tmp_path: Path) -> Iterator[World]:
    """olga owns olga/brain; wes may write, rita may read, eve is a stranger."""
    tokens = {name: make_user(platform, name) for name in ("olga", "wes", "rita", "eve")}
    with platform.sessions.begin() as session:
        dataset = datasets.create(session, owner="olga", name="brain", author="olga")
        access.grant(session, dataset=dataset, role="write", actor="olga", username="wes")
        access.grant(session, dataset=dataset, role="read", actor="olga", username="rita")
    with (
        webhook_receiver() as receiver,
        live_server(create_app(platform)) as base,
        httpx.Client(base_url=base, timeout=30) as http,
    ):
        client = Client(base, tokens["olga"])
        try:
            yield World(http, platform, tokens, receiver, client.dataset("olga/brain"), tmp_path)
        finally:
            client.close()


def test_actions_over_rest_reach_the_receiver(world: World) -> None:
    hook = world.hook()
    olga = world.as_("olga")
    assert world.http.post(f"{DS}/branches", json={"name": "qc", "source": "main"}, headers=olga).is_success
    work = world.push("qc", "a.dcm", b"A", "qc pass")
    proposal = {"source": "qc", "target": "main", "title": "QC pass"}
    assert world.http.post(f"{DS}/proposals", json=proposal, headers=olga).status_code == 201
    merged = world.http.post(f"{DS}/proposals/1/merge", json={}, headers=olga)
    assert merged.status_code == 200, merged.text
    release = {"ref": "main", "tag": "v1.0", "title": "First"}
    assert world.http.post(f"{DS}/releases", json=release, headers=olga).status_code == 201
    check = {"name": "ci", "status": "success", "summary": "all green"}
    reported = world.http.post(f"{DS}/commits/{work}/checks", json=check, headers=world.as_("wes"))
    assert reported.status_code == 201, reported.text

    assert webhooks.deliver_due(world.platform) == 6
    assert world.receiver.events() == [
        "push",
        "proposal.opened",
        "push",
        "proposal.merged",
        "release.published",
        "check.completed",
    ]
    for got in world.receiver.received:
        assert webhooks.verify_signature(hook["secret"], got.body, got.signature)
    bodies = [r.json() for r in world.receiver.received]
    assert {b["dataset"] for b in bodies} == {"olga/brain"}
    assert (bodies[0]["payload"]["after"], bodies[0]["payload"]["actor"]) == (work, "olga")
    assert bodies[1]["payload"]["number"] == 1
    assert bodies[3]["payload"]["merged_commit"] == merged.json()["merged_commit"]
    assert bodies[4]["payload"]["tag"] == "v1.0"
    assert (bodies[5]["payload"]["name"], bodies[5]["payload"]["status"]) == ("ci", "success")


def test_the_secret_is_in_the_create_answer_only(world: World) -> None:
    generated = world.hook(["push"])
    assert re.fullmatch("[0-9a-f]{64}", generated["secret"])
    chosen = world.hook(["push"], secret="my-own-secret")
    assert chosen["secret"] == "my-own-secret"
    olga = world.as_("olga")
    world.push("main", "a.dcm", b"A")
    assert webhooks.deliver_due(world.platform) == 2
    answers = [
        world.http.get(HOOKS, headers=olga),
        world.http.get(f"{HOOKS}/{generated['id']}", headers=olga),
        world.http.patch(f"{HOOKS}/{generated['id']}", json={"active": True}, headers=olga),
        world.http.post(f"{HOOKS}/{generated['id']}/ping", headers=olga),
        world.http.get(f"{HOOKS}/{generated['id']}/deliveries", headers=olga),
        world.http.get(f"{HOOKS}/{chosen['id']}/deliveries", headers=olga),
    ]
    for answer in answers:
        assert answer.is_success, answer.text
        assert "secret" not in answer.text
        assert generated["secret"] not in answer.text
    listed = answers[0].json()["results"]
    assert [(h["id"], h["events"], h["active"], h["created_by"]) for h in listed] == [
        (generated["id"], ["push"], True, "olga"),
        (chosen["id"], ["push"], True, "olga"),
    ]


def test_only_dataset_admins_manage_hooks(world: World) -> None:
    hook = world.hook(["push"])
    world.push("main", "a.dcm", b"A")
    delivery = world.log(hook["id"])["results"][0]["delivery"]
    requests = [
        ("POST", HOOKS, {"url": world.receiver.url, "events": ["push"]}),
        ("GET", HOOKS, None),
        ("GET", f"{HOOKS}/{hook['id']}", None),
        ("PATCH", f"{HOOKS}/{hook['id']}", {"active": False}),
        ("DELETE", f"{HOOKS}/{hook['id']}", None),
        ("GET", f"{HOOKS}/{hook['id']}/deliveries", None),
        ("POST", f"{HOOKS}/{hook['id']}/ping", None),
        ("POST", f"{HOOKS}/{hook['id']}/deliveries/{delivery}/redeliver", None),
    ]
    for method, path, body in requests:
        for who, expected in (("wes", 403), ("rita", 403), ("eve", 404)):
            answer = world.http.request(method, path, json=body, headers=world.as_(who))
            assert answer.status_code == expected, (who, method, path, answer.text)
            assert world.receiver.url not in answer.text
        assert world.http.request(method, path, json=body).status_code == 401
    assert world.http.get(f"{HOOKS}/{hook['id']}", headers=world.as_("olga")).json()["active"] is True
    assert len(world.log(hook["id"])["results"]) == 1  # no ping, no redelivery queued


BAD_HOOKS = [  # (body, what the answer says)
    ({"url": "ftp://example.org/hook", "events": ["push"]}, "must be an http:// or https:// URL"),
    ({"url": "not a url", "events": ["push"]}, "must be an http:// or https:// URL"),
    ({"url": "http://127.0.0.1:99999/hook", "events": ["push"]}, "port must be a number"),
    ({"url": "http://127.0.0.1:0/hook", "events": ["push"]}, "port must be a number from 1"),
    ({"url": "https://example.org/a\nb", "events": ["push"]}, "printable ASCII without spaces"),
    ({"url": "https://example.org/a b", "events": ["push"]}, "printable ASCII without spaces"),
    ({"url": "https://example.org/\u00e9", "events": ["push"]}, "percent-encode"),
    ({"url": "https://example.org/" + "x" * 2048, "events": ["push"]}, "at most 2048 characters"),
    ({"url": "https://example.org/", "events": ["pushed", "push"]}, "unknown event(s) pushed; known: push"),
    ({"url": "https://example.org/", "events": ["ping"]}, "unknown event(s) ping"),
    ({"url": "https://example.org/", "events": []}, "needs at least one event"),
    ({"url": "https://example.org/", "events": ["push"], "secret": "s" * 256}, "at most 255 characters"),
]


def test_bad_input_is_refused_with_a_clear_message(world: World) -> None:
    olga = world.as_("olga")
    for body, message in BAD_HOOKS:
        refused = world.http.post(HOOKS, json=body, headers=olga)
        assert refused.status_code == 422, refused.text
        assert message in refused.json()["detail"], body
    assert world.http.get(HOOKS, headers=olga).json()["results"] == []
    hook = world.hook(["push"])
    assert world.http.post(HOOKS, json={"url": "https://example.org/"}, headers=olga).status_code == 422
    assert world.http.post(HOOKS, json={"url": 7, "events": "push"}, headers=olga).status_code == 422
    emptied = world.http.patch(f"{HOOKS}/{hook['id']}", json={"secret": ""}, headers=olga)
    assert (emptied.status_code, emptied.json()["detail"]) == (422, "a new webhook secret must not be empty")
    assert world.http.patch(f"{HOOKS}/{hook['id']}", json={"events": []}, headers=olga).status_code == 422
    assert world.http.get(f"{HOOKS}/999", headers=olga).status_code == 404
    no_rows = world.http.get(f"{HOOKS}/{hook['id']}/deliveries", params={"limit": 0}, headers=olga)
    assert no_rows.status_code == 422
    unknown = world.http.post(f"{HOOKS}/{hook['id']}/deliveries/nope/redeliver", headers=olga)
    assert unknown.status_code == 404
    assert "no delivery nope" in unknown.json()["detail"]


def test_a_password_in_a_hook_url_is_masked_everywhere_but_sent(world: World) -> None:
    olga = world.as_("olga")
    with_password = world.receiver.url.replace("http://", "http://svc:Sup3rS3cret@")
    created = world.http.post(HOOKS, json={"url": with_password, "events": ["push"]}, headers=olga)
    assert created.status_code == 201, created.text
    listed = world.http.get(HOOKS, headers=olga)
    assert "Sup3rS3cret" not in created.text + listed.text
    masked = listed.json()["results"][0]["url"]
    assert masked == with_password.replace("Sup3rS3cret", "***")
    hook_url = f"{HOOKS}/{created.json()['id']}"
    assert world.http.patch(hook_url, json={"url": masked, "active": True}, headers=olga).is_success
    with world.platform.sessions() as session:
        events = audit.search(session, action="webhook.create", limit=10)
    assert events
    assert "Sup3rS3cret" not in str([e.details for e in events])
    world.push("main", "a.dcm", b"A")
    assert webhooks.deliver_due(world.platform) == 1
    [got] = world.receiver.received
    assert got.headers["authorization"] == "Basic " + base64.b64encode(b"svc:Sup3rS3cret").decode()


def test_a_dataset_holds_a_bounded_number_of_hooks(world: World) -> None:
    for _ in range(webhooks.MAX_HOOKS):
        world.hook(["push"])
    refused = world.http.post(
        HOOKS, json={"url": world.receiver.url, "events": ["push"]}, headers=world.as_("olga")
    )
    assert refused.status_code == 409
    assert f"{webhooks.MAX_HOOKS} webhooks" in refused.json()["detail"]


def test_the_log_shows_every_attempt_then_ping_and_redeliver(world: World) -> None:
    hook = world.hook(["push"])
    olga = world.as_("olga")
    pinged = world.http.post(f"{HOOKS}/{hook['id']}/ping", headers=olga)
    assert pinged.status_code == 202, pinged.text
    queued = pinged.json()
    assert (queued["event"], queued["state"], queued["attempts"]) == ("ping", "pending", [])
    world.receiver.fail_next(2, status=502)
    start = utcnow()
    for seconds in (0, 10, 30):  # the default backoff: 10 s, then 20 s
        assert webhooks.deliver_due(world.platform, now=start + timedelta(seconds=seconds)) == 1

    [logged] = world.log(hook["id"])["results"]
    assert logged["delivery"] == queued["delivery"]
    assert (logged["state"], logged["last_status_code"]) == ("delivered", 200)
    assert logged["next_attempt_at"] is None
    assert [(a["number"], a["status_code"], a["error"]) for a in logged["attempts"]] == [
        (1, 502, "HTTP 502"),
        (2, 502, "HTTP 502"),
        (3, 200, ""),
    ]
    assert [a["response_excerpt"] for a in logged["attempts"]] == ["nope", "nope", "ok"]
    first = world.receiver.received[-1]
    assert logged["body"] == first.json()
    assert first.json()["payload"] == {"hook_id": hook["id"], "events": ["push"]}

    again = world.http.post(f"{HOOKS}/{hook['id']}/deliveries/{logged['delivery']}/redeliver", headers=olga)
    assert again.status_code == 202, again.text
    assert again.json()["delivery"] != logged["delivery"]
    assert webhooks.deliver_due(world.platform) == 1
    resent = world.receiver.received[-1]
    assert resent.headers["x-imagehub-delivery"] == again.json()["delivery"]
    assert {**resent.json(), "delivery": None} == {**first.json(), "delivery": None}
    assert webhooks.verify_signature(hook["secret"], resent.body, resent.signature)

    page = world.log(hook["id"], limit=1)
    assert [d["delivery"] for d in page["results"]] == [logged["delivery"]]
    rest = world.log(hook["id"], after=page["next_after"])["results"]
    assert [(d["delivery"], d["state"], len(d["attempts"])) for d in rest] == [
        (again.json()["delivery"], "delivered", 1)
    ]
    assert len(world.log(hook["id"])["results"][0]["attempts"]) == 3  # the original keeps its log


def test_patch_pauses_refilters_and_rotates_then_delete_removes(world: World) -> None:
    hook = world.hook(["release.published"])
    olga, path = world.as_("olga"), f"{HOOKS}/{hook['id']}"
    world.push("main", "a.dcm", b"A")
    assert webhooks.deliver_due(world.platform) == 0  # not subscribed to push
    paused = world.http.patch(path, json={"events": ["push"], "active": False}, headers=olga)
    assert (paused.json()["events"], paused.json()["active"]) == (["push"], False)
    world.push("main", "b.dcm", b"B")
    assert webhooks.deliver_due(world.platform) == 0  # inactive
    refused = world.http.post(f"{path}/ping", headers=olga)
    assert (refused.status_code, refused.json()["detail"]) == (
        409,
        f"webhook {hook['id']} is inactive: activate it to ping it",
    )
    rotated = world.http.patch(path, json={"active": True, "secret": "rotated"}, headers=olga)
    assert rotated.status_code == 200, rotated.text
    world.push("main", "c.dcm", b"C")
    assert webhooks.deliver_due(world.platform) == 1
    [got] = world.receiver.received
    signature = got.signature
    assert webhooks.verify_signature("rotated", got.body, signature)
    assert not webhooks.verify_signature(hook["secret"], got.body, signature)

    assert world.http.delete(path, headers=olga).status_code == 204
    assert world.http.get(path, headers=olga).status_code == 404
    assert world.http.get(f"{path}/deliveries", headers=olga).status_code == 404
    assert world.http.get(HOOKS, headers=olga).json()["results"] == []


def test_the_servers_dispatcher_delivers_a_push(database_url: str, tmp_path: Path) -> None:
    """No hand-driven ``deliver_due``: the app's lifespan runs the dispatcher."""
    with (
        migrated_platform(
            tmp_path / "var", database_url, webhook_poll_seconds=0.05, webhook_allow_private_networks=True
        ) as platform,
        webhook_receiver() as receiver,
    ):
        token = make_user(platform, "olga")
        with (
            live_server(create_app(platform)) as base,
            httpx.Client(base_url=base, headers=bearer(token)) as http,
        ):
            remote = Client(base, token).create_dataset("olga/brain")
            hook = http.post(HOOKS, json={"url": receiver.url, "events": ["push"]}).json()
            commit = push_file(remote, tmp_path, "main", "a.dcm", b"A", "first scan")
            remote.client.close()
            [got] = receiver.wait_for(1)
            assert got.event == "push"
            assert got.json()["payload"]["after"] == commit
            assert webhooks.verify_signature(hook["secret"], got.body, got.signature)
            deadline = time.monotonic() + 10
            while (state := delivery_state(http, hook["id"])) == "pending" and time.monotonic() < deadline:
                time.sleep(0.05)
            assert state == "delivered"


def delivery_state(http: httpx.Client, hook_id: int) -> str:
    """The state of the hook's one delivery, as the log shows it."""
    [delivery] = http.get(f"{HOOKS}/{hook_id}/deliveries").json()["results"]
    return str(delivery["state"])


def test_hooks_to_private_addresses_are_refused_by_default(database_url: str, tmp_path: Path) -> None:
    """Without ``webhook_allow_private_networks`` a hook may not point at loopback, private
    or link-local (cloud metadata) addresses, neither when created nor when changed."""
    with migrated_platform(tmp_path / "var", database_url, webhook_poll_seconds=0) as platform:
        token = make_user(platform, "olga")
        with platform.sessions.begin() as session:
            datasets.create(session, owner="olga", name="brain", author="olga")
        with (
            live_server(create_app(platform)) as base,
            httpx.Client(base_url=base, headers=bearer(token), timeout=30) as http,
        ):
            metadata = {"url": "http://169.254.169.254/latest/meta-data/", "events": ["push"]}
            refused = http.post(HOOKS, json=metadata)
            assert refused.status_code == 422, refused.text
            assert "169.254.169.254 is a private address (link-local)" in refused.text
            assert http.get(HOOKS).json()["results"] == []

            public = http.post(HOOKS, json={"url": "http://93.184.216.34/hook", "events": ["push"]})
            assert public.status_code == 201, public.text  # checked, never contacted
            changed = http.patch(f"{HOOKS}/{public.json()['id']}", json={"url": "http://[::1]:9/x"})
            assert changed.status_code == 422, changed.text
            assert "::1 is a private address (loopback)" in changed.text
            assert http.get(f"{HOOKS}/{public.json()['id']}").json()["url"] == "http://93.184.216.34/hook"
