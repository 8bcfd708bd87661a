"""Alert state in one DynamoDB table: conditional writes so no transition is stored twice.

Items (docs/alerts.md#dynamodb): partition key `mission` (`<namespace>/<mission>`), sort key
`key`. A rule item (`<satellite>#<rule>`) holds the rule's state, its latest alert and, between a
transition's write and its publication, the transitions still to notify (`pending`). A satellite
item (`<satellite>`, no `#`) holds the satellite's watermark (`last_sample_time`, spacecraft ns)
and `last_seen` (wall-clock seconds of its latest sample, what stale rules compare with).

Expiry (docs/alerts.md#expiry): a rule item back at `ok` with nothing left to notify, and a
satellite item, carry `expires_at` (epoch seconds, the table's TTL attribute) = the write's wall
clock + the retention; a pending or firing pair's item, or one holding transitions to publish,
carries none (a `PutItem` replaces the whole item, so re-entering pending or firing removes it).

Every rule-item write is conditional on the `version` read (or on the item's absence), so of two
invocations that evaluated the same samples only one stores — and therefore notifies — a
transition; the loser gets `Conflict`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from mpcs.kit.alerts_table import (
    DEFAULT_TABLE,
    TTL_ATTRIBUTE,
    AlertTable,
    Conflict,
    ensure_table,
    is_conditional_failure,
    rule_key,
)
from mpcs.kit.alerts_table import unmarshal as _unmarshal
from mpcs.orbit.timeutil import format_time_ns

from .model import Edge, RuleState, Status, Transition

_BATCH_GET_MAX = 100
_DAY_S = 86_400


def expiry(state: RuleState, *, pending: bool, now_s: float, retention_days: int) -> int | None:
    """When a rule item stored as `state` may expire (epoch s, DynamoDB's TTL format):
    `retention_days` after `now_s` once the pair is back at ok with nothing left to notify
    (`pending`: transitions still to publish); never (None) while pending or firing, while it
    holds transitions, or with a retention of 0.

    >>> expiry(RuleState(), pending=False, now_s=1_000.5, retention_days=90)
    7777000
    >>> expiry(RuleState(), pending=True, now_s=1_000.5, retention_days=90) is None
    True
    >>> expiry(RuleState(status=Status.FIRING), pending=False, now_s=1_000.5, retention_days=90)
    >>> expiry(RuleState(), pending=False, now_s=1_000.5, retention_days=0)
    """
    if pending or state.status is not Status.OK:
        return None
    return watermark_expiry(now_s=now_s, retention_days=retention_days)


def watermark_expiry(*, now_s: float, retention_days: int) -> int | None:
    """When a satellite item written at `now_s` may expire (None: never, retention 0).

    >>> watermark_expiry(now_s=1_000.5, retention_days=1)
    87400
    """
    return None if retention_days <= 0 else int(now_s) + retention_days * _DAY_S


class Cleared(NamedTuple):
    """A rule item whose pending markers `settle` removes if it is still at `version`, setting
    its `expires_at` (None: the item does not expire, e.g. it is firing)."""

    key: str
    version: int
    expires_at: int | None = None


@dataclass
class RuleItem:
    """A rule item as read: its state, version (0: absent) and the alert's descriptive fields."""

    satellite: str
    rule: str
    state: RuleState = field(default_factory=RuleState)
    version: int = 0
    pending: list[Transition] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return rule_key(self.satellite, self.rule)


@dataclass
class SatelliteItem:
    """A satellite's watermark item (absent: zeros)."""

    satellite: str
    last_sample_time: int = 0
    last_seen: float | None = None
    #: Written with the watermark (epoch s, the TTL attribute); None: never expires.
    expires_at: int | None = None


def _n(value: float | int) -> dict[str, str]:
    return {"N": repr(value) if isinstance(value, float) else str(value)}


def _marshal(values: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[name] = {"BOOL": value}
        elif isinstance(value, int | float):
            out[name] = _n(value)
        else:
            out[name] = {"S": str(value)}
    return out


def _state_of(data: Mapping[str, Any]) -> RuleState:
    def opt_int(name: str) -> int | None:
        v = data.get(name)
        return None if v is None else int(v)

    def opt_float(name: str) -> float | None:
        v = data.get(name)
        return None if v is None else float(v)

    alert_status = data.get("alert_status")
    return RuleState(
        status=Status(data.get("status", "ok")),
        since=opt_int("since"),
        last_sample_time=int(data.get("last_sample_time", 0)),
        pending_since=opt_int("pending_since"),
        ref_value=opt_float("ref_value"),
        ref_time=opt_int("ref_time"),
        alert_id=data.get("alert_id"),
        alert_status=None if alert_status is None else Edge(alert_status),
        fired_at=opt_int("fired_at_ns"),
        resolved_at=opt_int("resolved_at_ns"),
        value=opt_float("value"),
    )


class AlertStore(AlertTable):
    """The alerts table through a boto3 DynamoDB client (low-level API, typed attributes); the
    reads and the acknowledgement the API shares come from `mpcs.kit.alerts_table`. With `pool`
    (the handler's writers), `load` sends its BatchGetItem calls, and `settle` its updates, at
    once."""

    pool: Executor | None = None

    # -- reads -----------------------------------------------------------------------------------

    def load(
        self, mission: str, satellites: Iterable[str], rules: Iterable[str]
    ) -> tuple[dict[str, SatelliteItem], dict[str, RuleItem]]:
        """Satellite and rule items of `satellites` × `rules` with BatchGetItem (strongly
        consistent), absent ones as fresh items; rule items by `rule_key`."""
        sats = list(dict.fromkeys(satellites))
        names = list(dict.fromkeys(rules))
        keys = [*sats, *(rule_key(s, r) for s in sats for r in names)]
        chunks = [keys[i : i + _BATCH_GET_MAX] for i in range(0, len(keys), _BATCH_GET_MAX)]
        found: dict[str, dict[str, Any]] = {}
        # The chunks are independent reads: with a pool, they go at once.
        parts = (
            self.pool.map(lambda c: self._batch_get(mission, c), chunks)
            if self.pool is not None and len(chunks) > 1
            else map(lambda c: self._batch_get(mission, c), chunks)
        )
        for part in parts:
            found.update(part)
        satellite_items = {
            s: SatelliteItem(
                satellite=s,
                last_sample_time=int(found.get(s, {}).get("last_sample_time", 0)),
                last_seen=found.get(s, {}).get("last_seen"),
            )
            for s in sats
        }
        rule_items = {}
        for s in sats:
            for r in names:
                stored = found.get(rule_key(s, r))
                rule_items[rule_key(s, r)] = (
                    RuleItem(satellite=s, rule=r) if stored is None else _rule_item(stored)
                )
        return satellite_items, rule_items

    def _batch_get(self, mission: str, keys: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        request: dict[str, Any] = {
            self.table: {
                "Keys": [{"mission": {"S": mission}, "key": {"S": k}} for k in keys],
                "ConsistentRead": True,
            }
        }
        while request:
            response = self.client.batch_get_item(RequestItems=request)
            for raw in response.get("Responses", {}).get(self.table, []):
                data = _unmarshal(raw)
                found[data["key"]] = data
            request = response.get("UnprocessedKeys") or {}
        return found

    # -- writes ----------------------------------------------------------------------------------

    def save_rule(
        self,
        mission: str,
        item: RuleItem,
        state: RuleState,
        *,
        pending: list[Transition],
        attributes: Mapping[str, Any],
        expires_at: int | None = None,
    ) -> int:
        """Store `state` (and the transitions still to notify) if the item is still at
        `item.version`; returns the new version, raises Conflict otherwise. `expires_at` (see
        `expiry`) is written as the TTL attribute; None leaves the item without one."""
        version = item.version + 1
        values: dict[str, Any] = {
            "mission": mission,
            "key": item.key,
            "satellite": item.satellite,
            "rule": item.rule,
            "version": version,
            "status": state.status.value,
            "since": state.since,
            "last_sample_time": state.last_sample_time,
            "pending_since": state.pending_since,
            "ref_value": state.ref_value,
            "ref_time": state.ref_time,
            "alert_id": state.alert_id,
            "alert_status": None if state.alert_status is None else state.alert_status.value,
            "fired_at_ns": state.fired_at,
            "resolved_at_ns": state.resolved_at,
            "fired_at": None if state.fired_at is None else format_time_ns(state.fired_at),
            "resolved_at": None if state.resolved_at is None else format_time_ns(state.resolved_at),
            "value": state.value,
            **attributes,
            TTL_ATTRIBUTE: expires_at,
        }
        same_alert = state.alert_id is not None and state.alert_id == item.state.alert_id
        if same_alert:  # an acknowledgement belongs to its alert: keep it until the next one
            for name in ("acknowledged_by", "acknowledged_at"):
                values.setdefault(name, item.attributes.get(name))
        if pending:
            values["pending"] = orjson.dumps([t.to_dict() for t in pending]).decode()
        kwargs: dict[str, Any] = {"TableName": self.table, "Item": _marshal(values)}
        if item.version == 0:
            kwargs["ConditionExpression"] = "attribute_not_exists(#k)"
            kwargs["ExpressionAttributeNames"] = {"#k": "key"}
        else:
            kwargs["ConditionExpression"] = "version = :v"
            kwargs["ExpressionAttributeValues"] = {":v": _n(item.version)}
        self._conditional(self.client.put_item, **kwargs)
        return version

    def settle(
        self,
        mission: str,
        *,
        cleared: Sequence[Cleared],
        watermarks: Sequence[SatelliteItem],
    ) -> None:
        """After publishing: remove the pending markers of rule items still at the version
        written (setting their `expires_at` when they have one) and move satellites' watermarks
        forward (with their `expires_at`), each a conditional UpdateItem, sent at once through
        `pool` when there is one.

        Not TransactWriteItems: the updates are independent (nothing needs all or nothing), and a
        transaction costs twice the write units per item, fails as a whole on one item's
        conflict, and — in moto, the development stand-in — copies the whole table per item.

        An update whose condition fails is not needed — the rule item moved on (whoever moved it
        carried the markers along) or the watermark already is further — so it is ignored. Any
        other failure (throttling, an outage) raises after every update was tried; the others
        were written.
        """
        updates = [_clear_update(self.table, mission, c) for c in cleared]
        updates += [_watermark_update(self.table, mission, sat) for sat in watermarks]
        if not updates:
            return
        outcomes = (
            list(self.pool.map(self._update_if_needed, updates))
            if self.pool is not None and len(updates) > 1
            else [self._update_if_needed(u) for u in updates]
        )
        errors = [o for o in outcomes if o is not None]
        if errors:
            raise errors[0]

    def _update_if_needed(self, update: dict[str, Any]) -> Exception | None:
        """One conditional update; a failed condition is not an error (see `settle`)."""
        try:
            self.client.update_item(**update)
        except Exception as exc:
            return None if is_conditional_failure(exc) else exc
        return None


def _clear_update(table: str, mission: str, cleared: Cleared) -> dict[str, Any]:
    key, version, expires_at = cleared
    update: dict[str, Any] = {
        "TableName": table,
        "Key": {"mission": {"S": mission}, "key": {"S": key}},
        "UpdateExpression": "REMOVE pending",
        "ConditionExpression": "version = :v",
        "ExpressionAttributeValues": {":v": _n(version)},
    }
    if expires_at is not None:
        update["UpdateExpression"] = "REMOVE pending SET #ttl = :e"
        update["ExpressionAttributeNames"] = {"#ttl": TTL_ATTRIBUTE}
        update["ExpressionAttributeValues"][":e"] = _n(expires_at)
    return update


def _watermark_update(table: str, mission: str, sat: SatelliteItem) -> dict[str, Any]:
    values = {
        ":t": _n(sat.last_sample_time),
        ":s": _n(float(sat.last_seen or 0.0)),
        ":sat": {"S": sat.satellite},
    }
    expression = "SET last_sample_time = :t, last_seen = :s, satellite = :sat"
    if sat.expires_at is None:
        expression += " REMOVE #ttl"
    else:
        expression += ", #ttl = :e"
        values[":e"] = _n(sat.expires_at)
    return {
        "TableName": table,
        "Key": {"mission": {"S": mission}, "key": {"S": sat.satellite}},
        "UpdateExpression": expression,
        "ConditionExpression": "attribute_not_exists(last_sample_time) OR last_sample_time < :t",
        "ExpressionAttributeNames": {"#ttl": TTL_ATTRIBUTE},
        "ExpressionAttributeValues": values,
    }


def _rule_item(data: Mapping[str, Any]) -> RuleItem:
    pending = (
        [Transition.from_dict(t) for t in orjson.loads(data["pending"])]
        if data.get("pending")
        else []
    )
    satellite, _, rule = str(data["key"]).partition("#")
    return RuleItem(
        satellite=satellite,
        rule=rule,
        state=_state_of(data),
        version=int(data.get("version", 0)),
        pending=pending,
        attributes=dict(data),
    )


__all__ = [
    "DEFAULT_TABLE",
    "AlertStore",
    "Cleared",
    "Conflict",
    "RuleItem",
    "SatelliteItem",
    "ensure_table",
    "expiry",
    "rule_key",
    "watermark_expiry",
]
