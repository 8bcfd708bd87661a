"""Building blocks shared by the four kinds: the model base, references, conditions, name patterns.

`set_condition` is the one condition merge: the operator and the CommandPlan executor both write
conditions with it, so lastTransitionTime means the same in every status.

Every model parses the camelCase wire form (`model_validate(obj["spec"])`) and also accepts the
snake_case Python names; `to_wire()` gives back the camelCase dict the API server stores.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from mpcs.orbit.timeutil import format_rfc3339

#: A DNS-1123 label: what Kubernetes accepts as the name of most objects (and a plan step).
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
#: A DNS-1123 subdomain: names of Secrets, ConfigMaps and custom resources.
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

#: The name of an object in the same namespace.
ObjectName = Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)]
#: A short name that must also be a DNS label (a step name).
LabelName = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL_PATTERN)]
#: Free text in status (messages, reasons) is bounded so CEL cost estimates stay finite.
StatusText = Annotated[str, Field(max_length=32_768)]


class Resource(BaseModel):
    """Base of every spec/status model: camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_attribute_docstrings=True,
        validate_default=False,
    )

    def to_wire(self) -> dict[str, Any]:
        """The camelCase JSON-ready dict, unset optional fields omitted (e.g. a status patch)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class ObjectRef(Resource):
    """A reference to an object of another kind in the same namespace."""

    name: ObjectName
    """Name of the referenced object (same namespace)."""


class ConditionStatus(enum.StrEnum):
    """Status of a condition, as in every Kubernetes API."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"

    @classmethod
    def of(cls, status: bool | None) -> ConditionStatus:
        """True or False, and Unknown for None.

        >>> ConditionStatus.of(None).value
        'Unknown'
        """
        return cls.UNKNOWN if status is None else (cls.TRUE if status else cls.FALSE)


class Condition(Resource):
    """The latest observation of one aspect of the object's state (Kubernetes convention)."""

    type: Annotated[str, Field(min_length=1, max_length=316)]
    """Aspect observed, e.g. Ready, TopicsReady, SimulatorReady."""
    status: ConditionStatus
    """True, False or Unknown."""
    reason: Annotated[str, Field(max_length=1024)] | None = None
    """CamelCase machine-readable cause of the last transition."""
    message: StatusText | None = None
    """Human-readable details."""
    last_transition_time: datetime | None = None
    """When the status last changed."""
    observed_generation: Annotated[int, Field(ge=0)] | None = None
    """The .metadata.generation this condition was computed from."""


#: `json_schema_extra` of a `conditions` list: a map keyed by type (server-side apply friendly).
CONDITIONS_LIST: dict[str, Any] = {
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": ["type"],
}


def set_condition(
    conditions: Iterable[Mapping[str, Any]] | None,
    *,
    type: str,
    status: bool | None,
    reason: str,
    message: str,
    generation: int,
    now: datetime,
) -> list[dict[str, Any]]:
    """A new list with `type` set, the others kept in order; lastTransitionTime moves only when
    the status changes, so it tells how long the object has been in that state.

    >>> import datetime as dt
    >>> day1 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    >>> c = set_condition([], type="Ready", status=True, reason="Provisioned", message="ok",
    ...                   generation=1, now=day1)
    >>> c[0]["status"], c[0]["lastTransitionTime"]
    ('True', '2026-01-01T00:00:00.000Z')
    >>> c = set_condition(c, type="Ready", status=True, reason="Provisioned", message="still ok",
    ...                   generation=2, now=day1 + dt.timedelta(days=1))
    >>> c[0]["lastTransitionTime"], c[0]["message"], c[0]["observedGeneration"]
    ('2026-01-01T00:00:00.000Z', 'still ok', 2)
    """
    word = ConditionStatus.of(status).value
    result = [dict(c) for c in (conditions or [])]
    for cond in result:
        if cond.get("type") == type:
            if cond.get("status") != word:
                cond["lastTransitionTime"] = format_rfc3339(now)
            cond.update(status=word, reason=reason, message=message, observedGeneration=generation)
            return result
    result.append(
        {
            "type": type,
            "status": word,
            "reason": reason,
            "message": message,
            "lastTransitionTime": format_rfc3339(now),
            "observedGeneration": generation,
        }
    )
    return result


def Conditions() -> Any:
    """Field declaration of a `conditions` list."""
    return Field(default_factory=list, max_length=32, json_schema_extra=CONDITIONS_LIST)


def duplicates(values: Iterable[str]) -> list[str]:
    """Values that occur more than once, in first-seen order.

    >>> duplicates(["a", "b", "a", "c", "b", "a"])
    ['a', 'b']
    """
    seen: set[str] = set()
    repeated: list[str] = []
    for value in values:
        if value in seen and value not in repeated:
            repeated.append(value)
        seen.add(value)
    return repeated
