"""Building blocks shared by the four kinds: the model base, references, conditions, name patterns.

Every model parses the camelCase wire form (`model_validate(obj["spec"])`) and also accepts the
snake_case Python names; `to_wire()` gives back the camelCase dict the API server stores.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

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
