"""Bearer tokens and roles of the command API (pure, no server)."""

from __future__ import annotations

import pytest
from fastapi import HTTPException

from mpcs.workloads.api.auth import Tokens, authenticate, parse_authorization, require
from mpcs.workloads.api.models import Role

TOKENS = Tokens.from_values(viewer="view-t", operator="op-t", admin="admin-t")


@pytest.mark.parametrize(
    ("token", "role"),
    [("view-t", Role.VIEWER), ("op-t", Role.OPERATOR), ("admin-t", Role.ADMIN)],
)
def test_each_token_maps_to_its_role(token: str, role: Role) -> None:
    assert authenticate(TOKENS, token) is role


def test_missing_token_is_401_with_a_challenge() -> None:
    with pytest.raises(HTTPException) as caught:
        authenticate(TOKENS, None)
    assert caught.value.status_code == 401
    assert caught.value.headers == {"WWW-Authenticate": 'Bearer realm="mpcs"'}
    assert "bearer token is required" in caught.value.detail


def test_wrong_token_is_401_invalid_token() -> None:
    with pytest.raises(HTTPException) as caught:
        authenticate(TOKENS, "nope")
    assert caught.value.status_code == 401
    assert 'error="invalid_token"' in (caught.value.headers or {})["WWW-Authenticate"]


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "token"])
def test_malformed_authorization_headers_are_401(header: str) -> None:
    with pytest.raises(HTTPException) as caught:
        parse_authorization(header)
    assert caught.value.status_code == 401
    assert "Authorization header" in caught.value.detail


def test_bearer_scheme_is_case_insensitive() -> None:
    assert parse_authorization("bearer abc") == "abc"


def test_roles_are_ordered() -> None:
    assert Role.ADMIN.allows(Role.OPERATOR)
    assert Role.OPERATOR.allows(Role.VIEWER)
    assert not Role.VIEWER.allows(Role.OPERATOR)
    assert not Role.OPERATOR.allows(Role.ADMIN)


def test_ingest_may_only_ingest_and_only_admin_may_also() -> None:
    assert Role.INGEST.allows(Role.INGEST)
    assert Role.ADMIN.allows(Role.INGEST)
    for role in (Role.VIEWER, Role.OPERATOR):
        assert not role.allows(Role.INGEST)
    for needed in (Role.VIEWER, Role.OPERATOR, Role.ADMIN):
        assert not Role.INGEST.allows(needed)


def test_a_role_may_have_several_tokens_one_per_line() -> None:
    tokens = Tokens.from_values(viewer=None, operator="old-t\n new-t \n\n", admin=None)
    assert tokens.role_of("old-t") is Role.OPERATOR
    assert tokens.role_of("new-t") is Role.OPERATOR
    assert tokens.role_of("old-t\n new-t") is None
    assert tokens.role_of(" new-t ") is None  # the header's token is stripped before, not here


def test_only_digests_of_the_tokens_are_kept() -> None:
    tokens = Tokens.from_values(viewer="view-secret", operator=None, admin=None, ingest="gs-t")
    assert b"view-secret" not in repr(tokens).encode()
    assert tokens.role_of("gs-t") is Role.INGEST


def test_wrong_role_is_403_naming_the_role_needed() -> None:
    with pytest.raises(HTTPException) as caught:
        require(Role.VIEWER, Role.OPERATOR, action="send commands")
    assert caught.value.status_code == 403
    assert caught.value.detail == "role viewer may not send commands; it needs the operator role"


def test_a_role_without_a_token_cannot_be_used() -> None:
    tokens = Tokens.from_values(viewer="v", operator=None, admin="")
    assert set(tokens.by_role) == {Role.VIEWER}
    assert tokens.role_of("") is None


def test_a_token_shared_by_two_roles_gets_the_higher_one() -> None:
    tokens = Tokens.from_values(viewer="same", operator="same", admin=None)
    assert tokens.role_of("same") is Role.OPERATOR
