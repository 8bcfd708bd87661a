"""Command authority and two-person approval (issue 17): the fold's rules, then the API on
in-memory adapters (each refusal: status, reason, audit event, nothing sent).

Against the real servers (Kafka folding the events topic, restarts, two replicas):
tests/integration/workloads/test_api_command_safety.py.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from api_fakes import ADMIN, FakeBus, FakeInflux, FakeSource, auth, make_settings
from api_fakes import DEFAULT_OBJECTS as OBJECTS

from mpcs.core.commands import Command
from mpcs.workloads.api import create_app
from mpcs.workloads.api.control import ControlState, iso
from mpcs.workloads.api.kube import Directory
from mpcs.workloads.api.principals import UsersError, parse_users
from mpcs.workloads.api.services import Services, tokens_of, users_of

ALICE, BOB = "alice-admin-token-0001", "bob-admin-token-00002"
CAROL, DAVE = "carol-operator-token-1", "dave-operator-token-02"
USERS = f"alice:admin:{ALICE}, bob:admin:{BOB}\ncarol:operator:{CAROL},dave:operator:{DAVE}"
SAT = "firewatch-1"
RESET = {"name": "RESET_SUBSYSTEM", "args": {"subsystem": "obc"}, "confirm": True}

# --- the fold -----------------------------------------------------------------------------------

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _intent(kind: str, action: str, who: str, at: float = 0.0, **fields: Any) -> dict[str, Any]:
    return {
        "phase": "intent",
        "type": kind,
        "action": action,
        "id": str(uuid.uuid4()),
        "time": iso(T0 + timedelta(seconds=at)),
        "satellite": SAT,
        "who": who,
        "role": "operator",
        **fields,
    }


def test_the_first_claim_in_log_order_wins_and_others_are_locked_out() -> None:
    state = ControlState()
    first = state.apply(_intent("authority", "claim", "carol"))
    second = state.apply(_intent("authority", "claim", "dave", 1))
    assert first is not None
    assert first.ok
    assert second is not None
    assert (second.ok, second.status) == (False, 423)
    assert "held by carol" in second.reason
    assert state.refuses(SAT, "dave") is not None
    assert state.refuses(SAT, "carol") is None


def test_only_the_holder_releases_and_an_admin_takes_over() -> None:
    state = ControlState()
    state.apply(_intent("authority", "claim", "carol"))
    other = state.apply(_intent("authority", "release", "dave", 1))
    assert other is not None
    assert other.status == 423
    takeover = state.apply(_intent("authority", "takeover", "alice", 2))
    assert takeover is not None
    assert takeover.ok
    assert takeover.previous == "carol"
    old_holder = state.apply(_intent("authority", "release", "carol", 3))
    assert old_holder is not None
    assert old_holder.status == 423
    released = state.apply(_intent("authority", "release", "alice", 4))
    assert released is not None
    assert released.ok
    free = state.apply(_intent("authority", "release", "alice", 5))
    assert free is not None
    assert free.status == 409
    assert state.refuses(SAT, "dave") is None


def test_a_renewal_stands_for_a_grant_the_topic_no_longer_holds() -> None:
    renew = _intent("authority", "renew", "mpcs-api", 7200, holder="carol", since=iso(T0))
    replayed = ControlState()  # the claim aged out of the topic: the renewal comes first
    replayed.apply(renew)
    assert replayed.refuses(SAT, "dave") is not None
    released = ControlState()  # a release before it in the log: nothing to renew
    released.apply(_intent("authority", "release", "carol", 7100))
    released.apply(renew)
    assert released.refuses(SAT, "dave") is None


def _request(state: ControlState, issuer: str, *, ttl_s: float) -> uuid.UUID:
    command = Command(
        satellite=SAT, name="RESET_SUBSYSTEM", args={"subsystem": "obc"}, issued_by=issuer
    )
    state.apply(
        _intent(
            "approval",
            "request",
            issuer,
            command=command.model_dump(mode="json"),
            commandId=str(command.id),
            expiresAt=iso(T0 + timedelta(seconds=ttl_s)),
        )
    )
    return command.id


def test_approval_needs_a_different_admin_once_before_the_deadline() -> None:
    state = ControlState()
    cid = _request(state, "alice", ttl_s=60)
    own = state.apply(_intent("approval", "approve", "alice", 1, commandId=str(cid)))
    assert own is not None
    assert own.status == 403
    ok = state.apply(_intent("approval", "approve", "bob", 2, commandId=str(cid)))
    assert ok is not None
    assert ok.ok
    again = state.apply(_intent("approval", "approve", "bob", 3, commandId=str(cid)))
    assert again is not None
    assert again.status == 409
    # A send that failed (503) puts it back in the queue.
    state.apply(_intent("approval", "send_failed", "bob", 4, commandId=str(cid)))
    assert state.approvals[cid].state == "pending"
    late = state.apply(_intent("approval", "approve", "bob", 61, commandId=str(cid)))
    assert late is not None
    assert late.status == 410
    unknown = state.apply(_intent("approval", "approve", "bob", 1, commandId=str(uuid.uuid4())))
    assert unknown is not None
    assert unknown.status == 404


def test_due_approvals_expire_and_the_fold_ignores_outcomes() -> None:
    state = ControlState()
    cid = _request(state, "alice", ttl_s=10)
    assert [a.command.id for a in state.due(T0 + timedelta(seconds=11))] == [cid]
    state.apply(_intent("approval", "expire", "mpcs-api", 11, commandId=str(cid)))
    assert state.approvals[cid].state == "expired"
    assert state.apply({**_intent("authority", "claim", "x"), "phase": "outcome"}) is None
    assert state.authority == {}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("alice:root:" + "x" * 16, "role 'root'"),
        ("alice:admin:short", "at least 16"),
        ("admin:admin:" + "x" * 16, "shared token"),
        ("Alice:admin:" + "x" * 16, "DNS label"),
        (f"a:admin:{'x' * 16},b:admin:{'x' * 16}", "repeated"),
    ],
)
def test_malformed_users_name_the_entry_never_the_token(text: str, problem: str) -> None:
    with pytest.raises(UsersError, match=problem) as caught:
        parse_users(text)
    assert "x" * 16 not in str(caught.value)


# --- through the API ----------------------------------------------------------------------------


def _services(**settings: Any) -> Services:
    values = make_settings(api_users=USERS, **settings)
    return Services(
        settings=values,
        tokens=tokens_of(values),
        directory=Directory(FakeSource(OBJECTS), mission=values.mission, ttl_s=60),
        influx=FakeInflux(),
        bus=FakeBus(),
        users=users_of(values),
    )


async def _client(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(services.settings, services=services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as http:
        yield http


@pytest.fixture
def safe() -> Services:
    return _services(api_two_person=True)


@pytest.fixture
async def api(safe: Services) -> AsyncIterator[httpx.AsyncClient]:
    async for http in _client(safe):
        yield http


def _bus(services: Services) -> FakeBus:
    assert isinstance(services.bus, FakeBus)
    return services.bus


def _outcomes(services: Services, kind: str) -> list[dict[str, Any]]:
    return [
        e for e in _bus(services).events if e.get("type") == kind and e.get("phase") == "outcome"
    ]


async def _ping(api: httpx.AsyncClient, token: str) -> httpx.Response:
    return await api.post(
        f"/api/v1/satellites/{SAT}/commands", json={"name": "PING"}, headers=auth(token)
    )


async def test_commands_of_others_are_423_while_an_operator_holds_authority(
    api: httpx.AsyncClient, safe: Services
) -> None:
    claimed = await api.post(f"/api/v1/satellites/{SAT}/authority", headers=auth(CAROL))
    assert claimed.status_code == 200
    assert claimed.json()["holder"] == "carol"
    assert (await api.get(f"/api/v1/satellites/{SAT}/authority", headers=auth(DAVE))).json()[
        "holder"
    ] == "carol"

    refused = await _ping(api, DAVE)
    assert refused.status_code == 423
    assert "held by carol" in refused.json()["detail"]
    assert _bus(safe).commands == []
    audit = [e for e in _bus(safe).events if e.get("type") == "command"]
    assert audit[-1]["result"] == "refused"
    assert audit[-1]["status"] == 423
    assert audit[-1]["who"] == "dave"

    assert (await _ping(api, CAROL)).status_code == 202
    assert [c.issued_by for c in _bus(safe).commands] == ["carol"]


async def test_release_is_the_holders_and_an_admin_takes_over(
    api: httpx.AsyncClient, safe: Services
) -> None:
    await api.post(f"/api/v1/satellites/{SAT}/authority", headers=auth(CAROL))
    denied = await api.delete(f"/api/v1/satellites/{SAT}/authority", headers=auth(DAVE))
    assert denied.status_code == 423
    not_admin = await api.post(
        f"/api/v1/satellites/{SAT}/authority", json={"takeover": True}, headers=auth(DAVE)
    )
    assert not_admin.status_code == 403
    taken = await api.post(
        f"/api/v1/satellites/{SAT}/authority", json={"takeover": True}, headers=auth(ALICE)
    )
    assert taken.status_code == 200
    assert taken.json()["holder"] == "alice"
    assert (await _ping(api, CAROL)).status_code == 423
    assert (await api.delete(f"/api/v1/satellites/{SAT}/authority", headers=auth(ALICE))).json()[
        "holder"
    ] is None
    assert (await _ping(api, DAVE)).status_code == 202

    results = [(e["action"], e["who"], e["status"]) for e in _outcomes(safe, "authority")]
    assert results == [
        ("claim", "carol", 200),
        ("release", "dave", 423),
        ("takeover", "dave", 403),
        ("takeover", "alice", 200),
        ("release", "alice", 200),
    ]
    assert _outcomes(safe, "authority")[3]["previous"] == "carol"


async def test_a_critical_command_waits_for_a_second_admin(
    api: httpx.AsyncClient, safe: Services
) -> None:
    issued = await api.post(f"/api/v1/satellites/{SAT}/commands", json=RESET, headers=auth(ALICE))
    assert issued.status_code == 202
    assert issued.json()["state"] == "awaiting_approval"
    assert _bus(safe).commands == []
    cid = issued.json()["id"]
    pending = await api.get("/api/v1/approvals", headers=auth(DAVE))
    assert [a["command"]["id"] for a in pending.json()["data"]] == [cid]

    own = await api.post(f"/api/v1/commands/{cid}/approve", headers=auth(ALICE))
    assert own.status_code == 403
    assert "different admin" in own.json()["detail"]
    shared = await api.post(f"/api/v1/commands/{cid}/approve", headers=auth(ADMIN))
    assert shared.status_code == 403
    operator = await api.post(f"/api/v1/commands/{cid}/approve", headers=auth(CAROL))
    assert operator.status_code == 403
    assert _bus(safe).commands == []

    approved = await api.post(f"/api/v1/commands/{cid}/approve", headers=auth(BOB))
    assert approved.status_code == 202
    assert approved.json()["state"] == "sent"
    assert [str(c.id) for c in _bus(safe).commands] == [cid]
    assert _bus(safe).commands[0].issued_by == "alice"
    twice = await api.post(f"/api/v1/commands/{cid}/approve", headers=auth(BOB))
    assert twice.status_code == 409
    assert len(_bus(safe).commands) == 1

    results = [(e["action"], e["who"], e["status"]) for e in _outcomes(safe, "approval")]
    assert results == [
        ("request", "alice", 202),
        ("approve", "alice", 403),
        ("approve", "admin", 403),
        ("approve", "carol", 403),
        ("approve", "bob", 202),
        ("approve", "bob", 409),
    ]
    sent = [e for e in _bus(safe).events if e.get("type") == "command"]
    assert sent[-1]["result"] == "sent"
    assert sent[-1]["reason"] == "approved by bob"


async def test_the_shared_admin_token_cannot_issue_under_the_two_person_rule(
    api: httpx.AsyncClient, safe: Services
) -> None:
    refused = await api.post(f"/api/v1/satellites/{SAT}/commands", json=RESET, headers=auth(ADMIN))
    assert refused.status_code == 403
    assert "personal admin token" in refused.json()["detail"]
    assert [e["status"] for e in _bus(safe).events if e.get("type") == "command"] == [403]


async def test_an_approval_not_given_in_time_expires() -> None:
    services = _services(api_two_person=True, api_approval_timeout_s=0.05)
    async for api in _client(services):
        issued = await api.post(
            f"/api/v1/satellites/{SAT}/commands", json=RESET, headers=auth(ALICE)
        )
        await asyncio.sleep(0.1)
        late = await api.post(f"/api/v1/commands/{issued.json()['id']}/approve", headers=auth(BOB))
        assert late.status_code == 410
        assert "expired" in late.json()["detail"]
    assert _bus(services).commands == []
    assert [e["status"] for e in _outcomes(services, "approval")] == [202, 410]


async def test_without_the_two_person_rule_an_admin_sends_critical_commands_alone() -> None:
    services = _services()
    async for api in _client(services):
        sent = await api.post(f"/api/v1/satellites/{SAT}/commands", json=RESET, headers=auth(ALICE))
        assert sent.status_code == 202
        assert sent.json()["state"] == "sent"
    assert [c.issued_by for c in _bus(services).commands] == ["alice"]
