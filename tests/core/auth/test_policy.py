"""The access decision, rule by rule."""

from __future__ import annotations

import pytest

from imagehub.core.auth.policy import ANONYMOUS, DatasetFacts, Principal, Role, effective_role, is_phi_branch

ALICE = Principal(user_id=1, username="alice")


def dataset(visibility: str) -> DatasetFacts:
    return DatasetFacts(
        id=7, owner="lab", visibility=visibility, phi_branches=("raw", "raw-*"), phi_role=Role.ADMIN
    )


@pytest.mark.parametrize(
    ("principal", "visibility", "granted", "owns", "expected"),
    [
        (ANONYMOUS, "private", [], False, Role.NONE),
        (ANONYMOUS, "internal", [], False, Role.NONE),
        (ANONYMOUS, "public", [], False, Role.READ),
        (ALICE, "private", [], False, Role.NONE),
        (ALICE, "internal", [], False, Role.READ),
        (ALICE, "private", [Role.WRITE], False, Role.WRITE),
        (ALICE, "private", [Role.READ, Role.WRITE], False, Role.WRITE),
        (ALICE, "public", [Role.READ], False, Role.READ),
        (ALICE, "private", [], True, Role.ADMIN),
        (Principal(2, "root", is_admin=True), "private", [], False, Role.ADMIN),
        (Principal(1, "alice", token_scope=Role.READ), "private", [Role.ADMIN], False, Role.READ),
        (Principal(1, "alice", token_dataset_id=8), "public", [Role.ADMIN], False, Role.NONE),
        (Principal(1, "alice", token_dataset_id=7, token_scope=Role.WRITE), "private", [], True, Role.WRITE),
    ],
    ids=[
        "anon-private",
        "anon-internal",
        "anon-public",
        "user-private",
        "user-internal",
        "granted-write",
        "strongest-grant",
        "public-reader",
        "namespace-owner",
        "site-admin",
        "token-caps-role",
        "token-for-other-dataset",
        "token-for-this-dataset",
    ],
)
def test_effective_role(
    principal: Principal, visibility: str, granted: list[Role], owns: bool, expected: Role
) -> None:
    assert effective_role(principal, dataset(visibility), granted=granted, owns_namespace=owns) is expected


@pytest.mark.parametrize(
    ("branch", "phi"),
    [("raw", True), ("raw-2024", True), ("deidentified", False), ("main", False), ("rawish", False)],
)
def test_phi_branch_patterns(branch: str, phi: bool) -> None:
    assert is_phi_branch(dataset("private"), branch) is phi
