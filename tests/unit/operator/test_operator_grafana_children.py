"""A Mission's Grafana children: what the sidecar and grafana-operator are given, and how big.

The reconcile is run here against stand-ins for Kubernetes and InfluxDB (the seam a unit test may
stub); the same children against the real apiserver, grafana-operator CRDs and InfluxDB are in
tests/integration/operator/test_dashboards_provisioning.py.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
import yaml
from utils.kube import EXAMPLES
from utils.owners import mission_owner

from mpcs.core import names
from mpcs.core.resources import GroundStationSpec, MissionSpec
from mpcs.core.resources.simulation import NamedGroundStation
from mpcs.grafana.catalog import dashboards
from mpcs.grafana.context import MissionContext
from mpcs.operator import grafana_children as children
from mpcs.operator.indexes import Indexes
from mpcs.operator.reconcile import dashboards as reconcile_dashboards
from mpcs.operator.services import Services
from mpcs.operator.settings import OperatorSettings

OWNER = mission_owner()
SETTINGS = OperatorSettings(
    kafka_bootstrap="k:9092",
    influx_url="http://influxdb.mpcs:8086",
    grafana_instance_selector="dashboards=grafana,team=flight",
)


def _examples(kind: str) -> list[dict[str, Any]]:
    found = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        found += [
            doc for doc in yaml.safe_load_all(path.read_text()) if doc and doc["kind"] == kind
        ]
    return found


MISSION = MissionSpec.model_validate(_examples("Mission")[0]["spec"])
STATIONS = [
    NamedGroundStation(
        name=gs["metadata"]["name"], spec=GroundStationSpec.model_validate(gs["spec"])
    )
    for gs in _examples("GroundStation")
]
CONTEXT = MissionContext.of("ops", "wildfire", MISSION, {s.name: s.spec for s in STATIONS})


def test_dashboard_configmaps_follow_the_sidecar_convention() -> None:
    models = {"overview": {"title": "o", "uid": "u1"}, "pipeline": {"title": "p", "uid": "u2"}}
    maps = children.dashboard_configmaps(CONTEXT, owner=OWNER, models=models)
    assert [m["metadata"]["name"] for m in maps] == [
        "wildfire-dashboard-overview",
        "wildfire-dashboard-pipeline",
    ]
    for cm, (slug, model) in zip(maps, models.items(), strict=True):
        meta = cm["metadata"]
        assert meta["labels"]["grafana_dashboard"] == "1"
        assert meta["labels"]["app.kubernetes.io/managed-by"] == names.MANAGED_BY
        assert meta["labels"]["mpcs.io/mission"] == "wildfire"
        assert meta["annotations"]["grafana_folder"] == "MPCS ops/wildfire"
        assert meta["ownerReferences"] == [OWNER]
        assert cm["data"] == {
            f"mpcs-ops-wildfire-{slug}.json": json.dumps(
                model, sort_keys=True, separators=(",", ":")
            )
        }


def test_the_sidecar_datasource_reads_the_token_from_the_mounted_secret() -> None:
    cm = children.datasource_configmap(CONTEXT, owner=OWNER, settings=SETTINGS)
    assert cm["metadata"]["labels"]["grafana_datasource"] == "1"
    text = cm["data"]["datasource.yaml"]
    provisioning = yaml.safe_load(text)
    assert provisioning["apiVersion"] == 1
    [source] = provisioning["datasources"]
    assert source["uid"] == CONTEXT.influx_datasource_uid
    assert source["type"] == "influxdb"
    assert source["url"] == "http://influxdb.mpcs:8086"
    assert source["jsonData"] == {
        "version": "Flux",
        "organization": "mpcs",
        "defaultBucket": names.bucket("ops", "wildfire"),
    }
    assert source["secureJsonData"] == {
        "token": "$__file{/etc/grafana/secrets/wildfire-grafana-token/token}"
    }


def test_the_token_lives_only_in_the_secret() -> None:
    secret = children.token_secret(CONTEXT, owner=OWNER, token="s3cret")
    assert secret["kind"] == "Secret"
    assert secret["stringData"] == {"token": "s3cret"}
    everything_else = json.dumps(
        [
            children.datasource_configmap(CONTEXT, owner=OWNER, settings=SETTINGS),
            *children.grafana_operator_objects(
                CONTEXT, owner=OWNER, settings=SETTINGS, slugs=["overview"]
            ),
        ]
    )
    assert "s3cret" not in everything_else


def test_grafana_operator_objects_reference_the_configmaps_and_the_secret() -> None:
    objs = children.grafana_operator_objects(
        CONTEXT, owner=OWNER, settings=SETTINGS, slugs=["overview", "satellite"]
    )
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for obj in objs:
        by_kind.setdefault(obj["kind"], []).append(obj)
    selector = {"matchLabels": {"dashboards": "grafana", "team": "flight"}}
    for dash, slug in zip(by_kind["GrafanaDashboard"], ["overview", "satellite"], strict=True):
        assert dash["apiVersion"] == "grafana.integreatly.org/v1beta1"
        assert dash["spec"]["instanceSelector"] == selector
        assert dash["spec"]["configMapRef"] == {
            "name": f"wildfire-dashboard-{slug}",
            "key": f"mpcs-ops-wildfire-{slug}.json",
        }
        assert dash["metadata"]["ownerReferences"] == [OWNER]
    [source] = by_kind["GrafanaDatasource"]
    assert source["spec"]["datasource"]["secureJsonData"] == {"token": "${token}"}
    assert source["spec"]["valuesFrom"] == [
        {
            "targetPath": "secureJsonData.token",
            "valueFrom": {"secretKeyRef": {"name": "wildfire-grafana-token", "key": "token"}},
        }
    ]


# --- the reconcile, at the Kubernetes/InfluxDB seam ----------------------------------------------


@dataclass
class _Kube:
    applied: list[dict[str, Any]] = field(default_factory=list)
    deleted: list[tuple[str, str]] = field(default_factory=list)

    async def apply_all(self, objs: list[dict[str, Any]]) -> None:
        self.applied += copy.deepcopy(objs)

    async def delete(self, obj: dict[str, Any]) -> None:
        self.deleted.append((obj["kind"], obj["metadata"]["name"]))


@dataclass
class _Influx:
    tokens: dict[str, str] = field(default_factory=dict)

    async def ensure_read_token(self, bucket: str) -> str:
        return self.tokens.setdefault(bucket, f"read-{bucket}")

    async def delete_read_token(self, bucket: str) -> bool:
        return self.tokens.pop(bucket, None) is not None


@dataclass
class _Discovery:
    grafana_operator: bool

    async def serves(self, group_version: str, *plurals: str) -> bool:
        return self.grafana_operator


@dataclass
class _Services:
    kube: _Kube
    influx: _Influx
    discovery: _Discovery
    settings: OperatorSettings = field(default_factory=lambda: SETTINGS)


class _Indexes:
    """The stations of the examples and `satellites` satellites in the mission."""

    def __init__(self, satellites: int) -> None:
        self.satellite_count = satellites

    def stations_of(
        self, namespace: str, mission: MissionSpec
    ) -> tuple[list[NamedGroundStation], list[str]]:
        known = {s.name: s for s in STATIONS}
        return [known[n] for n in mission.ground_stations if n in known], [
            n for n in mission.ground_stations if n not in known
        ]

    def satellites_of(self, namespace: str, mission: str) -> list[object]:
        return [object()] * self.satellite_count


async def _converge(
    spec: MissionSpec, *, satellites: int = 3, grafana_operator: bool = False
) -> tuple[reconcile_dashboards.DashboardsResult, _Services]:
    services = _Services(_Kube(), _Influx(), _Discovery(grafana_operator))
    result = await reconcile_dashboards.converge(
        namespace="ops",
        mission="wildfire",
        owner=OWNER,
        spec=spec,
        services=cast(Services, services),
        indexes=cast(Indexes, _Indexes(satellites)),
    )
    return result, services


async def test_every_dashboard_is_provisioned_with_its_datasource() -> None:
    result, services = await _converge(MISSION)
    assert result.ready, result
    assert result.reason == "Provisioned"
    kinds = sorted((o["kind"], o["metadata"]["name"]) for o in services.kube.applied)
    expected = [("ConfigMap", f"wildfire-dashboard-{k.slug}") for k in dashboards()]
    expected += [("ConfigMap", "wildfire-grafana-datasource"), ("Secret", "wildfire-grafana-token")]
    assert kinds == sorted(expected)
    assert services.influx.tokens == {"ops.wildfire": "read-ops.wildfire"}


async def test_with_grafana_operator_installed_its_objects_come_too() -> None:
    _, services = await _converge(MISSION, grafana_operator=True)
    kinds = sorted({o["kind"] for o in services.kube.applied})
    assert kinds == ["ConfigMap", "GrafanaDashboard", "GrafanaDatasource", "Secret"]


async def test_a_thousand_satellites_change_nothing_and_stay_far_below_a_mebibyte() -> None:
    _, few = await _converge(MISSION, satellites=3)
    _, many = await _converge(MISSION, satellites=1_000)
    assert many.kube.applied == few.kube.applied
    for obj in many.kube.applied:
        if obj["kind"] == "ConfigMap":
            size = len(json.dumps(obj).encode())
            assert size < 256 * 1024, f"{obj['metadata']['name']}: {size} bytes"


async def test_alert_rules_reach_the_dashboards() -> None:
    spec = MISSION.model_copy(deep=True)
    spec.alerts[0].threshold = 17.5
    _, before = await _converge(MISSION)
    _, after = await _converge(spec)
    changed = {
        a["metadata"]["name"]
        for a, b in zip(before.kube.applied, after.kube.applied, strict=True)
        if a != b
    }
    assert changed
    assert all(name.startswith("wildfire-dashboard-") for name in changed), changed
    assert any("17.5" in json.dumps(o.get("data")) for o in after.kube.applied)


async def test_a_missing_station_is_named_and_the_rest_provisioned() -> None:
    spec = MISSION.model_copy(update={"ground_stations": [*MISSION.ground_stations, "kiruna"]})
    result, _ = await _converge(spec)
    assert result.ready
    assert "kiruna" in result.message


@pytest.mark.parametrize("grafana_operator", [False, True])
async def test_disabling_dashboards_removes_every_child_and_revokes_the_token(
    grafana_operator: bool,
) -> None:
    spec = MISSION.model_copy(
        update={"dashboards": MISSION.dashboards.model_copy(update={"enabled": False})}
    )
    services = _Services(_Kube(), _Influx({"ops.wildfire": "t"}), _Discovery(grafana_operator))
    result = await reconcile_dashboards.converge(
        namespace="ops",
        mission="wildfire",
        owner=OWNER,
        spec=spec,
        services=cast(Services, services),
        indexes=cast(Indexes, _Indexes(3)),
    )
    assert (result.ready, result.reason, result.failure) == (False, "Disabled", None)
    assert services.kube.applied == []
    assert services.influx.tokens == {}
    kinds = {kind for kind, _ in services.kube.deleted}
    expected = {"ConfigMap", "Secret"} | (
        {"GrafanaDashboard", "GrafanaDatasource"} if grafana_operator else set()
    )
    assert kinds == expected
    names_deleted = {name for _, name in services.kube.deleted}
    assert {f"wildfire-dashboard-{k.slug}" for k in dashboards()} <= names_deleted
