"""What a reconcile knows of one MPCS object: who it is, and its spec parsed into the core model.

Specs are parsed with the models of `mpcs.core.resources`, which hold every default, so nothing
in the operator re-declares one. A spec the model refuses (what CEL cannot check: a TLE checksum,
an unknown telemetry channel) becomes an `InvalidSpec` whose message names the field as
`spec.<path>: <reason>`, which the reconcile reports as a condition and an Event.

A Satellite is checked, TLE included, when the index sees it change (`read_satellite`); the
parsed TLE is what the refresher, the GroundStation passes and the CommandPlan planner use, so
they never parse it again. The spec model itself is parsed once per reconcile (`model()`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import kopf
from pydantic import ValidationError

from mpcs.core import names
from mpcs.core.resources import SatelliteSpec
from mpcs.core.resources.common import Resource
from mpcs.orbit.tle import Tle

SpecT = TypeVar("SpecT", bound=Resource)


class InvalidSpec(ValueError):
    """A spec the core model refuses; the message names each field (`spec.<path>: <reason>`)."""


def validation_message(exc: ValidationError) -> str:
    """`spec.<field>: <reason>` for each problem, as a user fixing the manifest needs it.

    >>> from mpcs.core.resources import GroundStationSpec
    >>> try:
    ...     GroundStationSpec.model_validate({"latitudeDeg": 91, "longitudeDeg": 0})
    ... except ValidationError as exc:
    ...     print(validation_message(exc))
    spec.latitudeDeg: Input should be less than or equal to 90
    """
    return "; ".join(
        ".".join(["spec", *(str(p) for p in err["loc"])]) + f": {err['msg']}"
        for err in exc.errors()
    )


def parse_spec(model: type[SpecT], spec: Mapping[str, Any]) -> SpecT:
    """The spec as its model; `InvalidSpec` naming the fields when the model refuses it."""
    try:
        return model.model_validate(dict(spec))
    except ValidationError as exc:
        raise InvalidSpec(validation_message(exc)) from None


@dataclass(frozen=True)
class ObjectMeta:
    """The identity of one custom object: enough for events, ownerReferences and status."""

    kind: str
    namespace: str
    name: str
    uid: str
    generation: int = 0

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> ObjectMeta:
        """From an object as the API server returns it (a Kopf body included)."""
        meta = body["metadata"]
        return cls(
            kind=body["kind"],
            namespace=meta["namespace"],
            name=meta["name"],
            uid=meta["uid"],
            generation=int(meta.get("generation", 0)),
        )

    def reference(self) -> kopf.Body:
        """The object's identity in the shape `kopf.event` and `owner_reference` read."""
        return kopf.Body(
            {
                "apiVersion": names.API_VERSION,
                "kind": self.kind,
                "metadata": {"name": self.name, "namespace": self.namespace, "uid": self.uid},
            }
        )


@dataclass(frozen=True)
class Satellite:
    """One Satellite, checked once per change: its TLE parsed, or the problem that stops it."""

    meta: ObjectMeta
    #: `spec.missionRef.name`, known even when the rest of the spec is invalid.
    mission: str
    #: The spec as the API server holds it.
    raw_spec: Mapping[str, Any]
    tle: Tle | None
    #: Why the spec cannot be used (`spec.<path>: <reason>`), or None.
    problem: str | None
    status: Mapping[str, Any]
    labels: Mapping[str, str]
    deleting: bool
    #: The parsed spec, kept only while one reconcile uses it: a parsed SatelliteSpec costs about
    #: 6 KB, so the index holds `lean()` copies (6 MB less at 1,000 Satellites).
    spec: SatelliteSpec | None = None

    def model(self) -> SatelliteSpec | None:
        """The spec as its model (the one already parsed, else parsed now); None when invalid."""
        if self.problem is not None:
            return None
        return self.spec if self.spec is not None else parse_spec(SatelliteSpec, self.raw_spec)

    def lean(self) -> Satellite:
        """This Satellite without its parsed spec, as the index keeps it."""
        return dataclasses.replace(self, spec=None)


def read_satellite(body: Mapping[str, Any]) -> Satellite:
    """A Satellite object (as the API server returns it), its spec and TLE parsed."""
    raw = body.get("spec") or {}
    metadata = body["metadata"]
    spec: SatelliteSpec | None = None
    tle: Tle | None = None
    problem: str | None = None
    try:
        spec = parse_spec(SatelliteSpec, raw)
        # Validating the spec parsed (and checked) the TLE already: reuse it.
        tle = spec.tle.parsed()
    except InvalidSpec as exc:
        problem = str(exc)
    return Satellite(
        meta=ObjectMeta.of(body),
        mission=str((raw.get("missionRef") or {}).get("name", "")),
        raw_spec=dict(raw),
        tle=tle,
        problem=problem,
        status=dict(body.get("status") or {}),
        labels=dict(metadata.get("labels") or {}),
        deleting=bool(metadata.get("deletionTimestamp")),
        spec=spec if problem is None else None,
    )
