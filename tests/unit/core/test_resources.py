"""The resource models are the one source of the CRDs, their docs and the examples' contract."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError
from typer.testing import CliRunner
from utils.doctests import run_doctests

from mpcs.core import commands
from mpcs.core.resources import (
    KINDS,
    KINDS_BY_NAME,
    CommandPlanSpec,
    FaultSpec,
    GroundStationSpec,
    SatelliteSpec,
    crd_manifests,
)
from mpcs.core.resources import _schema as schema_module
from mpcs.core.resources import common as common_module
from mpcs.core.resources import groundstation as groundstation_module
from mpcs.core.resources import satellite as satellite_module
from mpcs.core.resources.cli import app as crds_app
from mpcs.core.resources.cli import stale_files
from mpcs.core.resources.peering import PEERING_KINDS
from mpcs.core.resources.simulation import SimulatorConfig
from mpcs.orbit.timeutil import parse_time
from mpcs.orbit.tle import orbit_summary, parse_tle, tle_checksum

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"


def _examples() -> list[dict[str, Any]]:
    objects = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        objects += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return objects


def _of_kind(kind: str) -> list[dict[str, Any]]:
    return [o for o in _examples() if o["kind"] == kind]


# --------------------------------------------------------------------------------------------
# Generated files
# --------------------------------------------------------------------------------------------


def test_generated_files_are_current() -> None:
    stale = stale_files(ROOT / "crds", ROOT / "docs/resources.md")
    assert not stale, f"stale: {[str(p) for p in stale]}; run `mpcs crds generate`"


def test_crds_dir_holds_only_generated_files() -> None:
    expected = {info.file_name for info in KINDS} | {info.file_name for info in PEERING_KINDS}
    assert {p.name for p in (ROOT / "crds").glob("*.yaml")} == expected
    for file_name in expected:
        text = (ROOT / "crds" / file_name).read_text()
        assert text.startswith("# GENERATED")
        assert "mpcs crds generate" in text.splitlines()[1]


def test_check_command_names_stale_files(tmp_path: Path) -> None:
    runner = CliRunner()
    out, docs = tmp_path / "crds", tmp_path / "resources.md"
    args = ["--out", str(out), "--docs", str(docs)]
    assert runner.invoke(crds_app, ["generate", *args]).exit_code == 0
    assert runner.invoke(crds_app, ["check", *args]).exit_code == 0
    stale = out / KINDS[2].file_name
    stale.write_text(stale.read_text().replace("maximum: 3600", "maximum: 7200"))
    result = runner.invoke(crds_app, ["check", *args])
    assert result.exit_code == 1
    assert str(stale) in result.output
    assert str(docs) not in result.output


# --------------------------------------------------------------------------------------------
# Structural schemas
# --------------------------------------------------------------------------------------------

_FORBIDDEN = {"$ref", "$defs", "anyOf", "oneOf", "allOf", "not", "title", "const", "nullable"}


def _nodes(node: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, sub in node.get("properties", {}).items():
        yield from _nodes(sub, f"{path}.{name}")
    if "items" in node:
        yield from _nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _nodes(node["additionalProperties"], f"{path}{{}}")


@pytest.mark.parametrize("crd", crd_manifests(), ids=lambda c: c["spec"]["names"]["kind"])
def test_schema_is_structural(crd: dict[str, Any]) -> None:
    (version,) = crd["spec"]["versions"]
    schema = version["schema"]["openAPIV3Schema"]
    for path, node in _nodes(schema, "root"):
        assert not _FORBIDDEN & node.keys(), (path, _FORBIDDEN & node.keys())
        assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields"), path
        assert node.get("additionalProperties") is not False, path
        if node.get("type") == "array":
            assert "maxItems" in node, f"{path}: unbounded lists make CEL cost estimates fail"
        if node.get("type") == "object" and "properties" in node:
            assert set(node.get("required", ())) <= node["properties"].keys(), path
        for rule in node.get("x-kubernetes-validations", ()):
            assert rule.get("message"), (path, rule)
        if path.startswith("root.spec.") and not path.endswith("[]"):
            assert node.get("description"), f"{path} has no description"


def test_crds_are_namespaced_with_status_names_and_category() -> None:
    for info, crd in zip(KINDS, crd_manifests(), strict=True):
        spec = crd["spec"]
        assert crd["metadata"]["name"] == f"{info.plural}.mpcs.io"
        assert spec["group"] == "mpcs.io"
        assert spec["scope"] == "Namespaced"
        assert spec["names"]["shortNames"] == [info.short_name]
        assert spec["names"]["categories"] == ["mpcs"]
        (version,) = spec["versions"]
        assert version["name"] == "v1alpha1"
        assert version["subresources"] == {"status": {}}
        assert version["additionalPrinterColumns"][-1]["name"] == "Age"
    assert [k.short_name for k in KINDS] == ["gs", "msn", "sat", "cmdplan"]


def test_satellite_printer_columns_show_phase_orbit_and_next_pass() -> None:
    columns = {c["name"] for c in KINDS_BY_NAME["Satellite"].printer_columns}
    assert {"Mission", "Phase", "Period", "Inclination", "Next Pass", "Age"} <= columns


def test_docs_mention_every_field() -> None:
    text = (ROOT / "docs/resources.md").read_text()
    for crd in crd_manifests():
        (version,) = crd["spec"]["versions"]
        root = version["schema"]["openAPIV3Schema"]
        for part in ("spec", "status"):
            for path, _node in _nodes(root["properties"][part], ""):
                if path and not path.endswith("[]"):
                    assert f"`{path.lstrip('.')}`" in text, path
            for _path, node in _nodes(root["properties"][part], ""):
                for rule in node.get("x-kubernetes-validations", ()):
                    assert rule["message"] in text, rule


# --------------------------------------------------------------------------------------------
# What a simulator flies: the same models
# --------------------------------------------------------------------------------------------


def test_fault_starts_at_an_offset_or_a_date() -> None:
    sim_start = parse_time("2025-06-01T00:00:00Z")
    spec = SatelliteSpec.model_validate(_of_kind("Satellite")[2]["spec"])
    (fault,) = spec.simulator.faults
    assert fault.start_ns(sim_start) == sim_start + 86_400 * 10**9
    dated = FaultSpec.model_validate({"type": "radioDropout", "start": "2025-06-02T00:00:00Z"})
    assert dated.start_ns(0) == parse_time("2025-06-02T00:00:00Z")
    assert FaultSpec(type="stuckWheel").start_ns(sim_start) == sim_start


def test_simulator_config_carries_the_satellite_and_its_stations() -> None:
    satellite = _of_kind("Satellite")[0]
    stations = [
        {"name": gs["metadata"]["name"], "spec": gs["spec"]} for gs in _of_kind("GroundStation")
    ]
    config = SimulatorConfig.model_validate(
        {"satellite": satellite["metadata"]["name"], "spec": satellite["spec"]}
        | {"groundStations": stations}
    )
    assert SimulatorConfig.model_validate(config.to_wire()) == config
    masked = next(gs for gs in _of_kind("GroundStation") if gs["spec"].get("horizonMask"))
    station = next(s for s in config.stations() if s.name == masked["metadata"]["name"])
    points = masked["spec"]["horizonMask"]
    assert station.horizon_mask == tuple((p["azimuthDeg"], p["elevationDeg"]) for p in points)
    assert station.min_elevation_at(135).item() == max(8, masked["spec"]["minElevationDeg"])


def test_simulator_config_from_a_satellite_manifest() -> None:
    satellite = _of_kind("Satellite")[0]
    config = SimulatorConfig.from_manifest(satellite)
    assert config.satellite == satellite["metadata"]["name"]
    assert config.spec == SatelliteSpec.model_validate(satellite["spec"])
    assert config.ground_stations == []
    with pytest.raises(ValidationError) as exc:
        SimulatorConfig.from_manifest({"spec": satellite["spec"]})
    assert exc.value.errors()[0]["loc"] == ("satellite",)


def test_tle_is_parsed_once_and_checked_field_by_field() -> None:
    spec = SatelliteSpec.model_validate(_sat_spec())
    assert spec.tle.parsed() is spec.tle.parsed()
    assert spec.tle.parsed("sat-a").name == "sat-a"
    assert spec.tle.parsed("sat-a").epoch_ns == spec.tle.parsed().epoch_ns
    bad = _sat_spec()
    line2 = bad["tle"]["line2"][:8] + "251.6416" + bad["tle"]["line2"][16:68]
    bad["tle"]["line2"] = line2 + str(tle_checksum(line2))
    with pytest.raises(ValidationError) as caught:
        SatelliteSpec.model_validate(bad)
    (error,) = caught.value.errors()
    assert error["loc"] == ("tle",)
    assert "TLE line 2, column 9: inclination 251.6416" in error["msg"]


def test_horizon_mask_north_is_one_direction() -> None:
    with pytest.raises(ValidationError, match=r"\(0 and 360 are both north\); repeated: 0"):
        GroundStationSpec.model_validate(
            {
                "latitudeDeg": 0,
                "longitudeDeg": 0,
                "horizonMask": [
                    {"azimuthDeg": 0, "elevationDeg": 5},
                    {"azimuthDeg": 360, "elevationDeg": 9},
                ],
            }
        )


# --------------------------------------------------------------------------------------------
# Examples
# --------------------------------------------------------------------------------------------


def test_examples_hold_the_whole_mission() -> None:
    kinds = [o["kind"] for o in _examples()]
    assert kinds.count("GroundStation") == 2
    assert kinds.count("Mission") == 1
    assert kinds.count("Satellite") == 3
    assert kinds.count("CommandPlan") == 1
    for obj in _examples():
        assert obj["apiVersion"] == "mpcs.io/v1alpha1"
        assert "namespace" not in obj["metadata"]


@pytest.mark.parametrize("obj", _examples(), ids=lambda o: f"{o['kind']}/{o['metadata']['name']}")
def test_models_parse_the_examples(obj: dict[str, Any]) -> None:
    spec = KINDS_BY_NAME[obj["kind"]].spec_model.model_validate(obj["spec"])
    assert spec.model_validate(spec.to_wire()) == spec  # type: ignore[attr-defined]


def test_example_references_resolve() -> None:
    stations = {o["metadata"]["name"] for o in _of_kind("GroundStation")}
    missions = {o["metadata"]["name"]: o for o in _of_kind("Mission")}
    satellites = {o["metadata"]["name"]: o for o in _of_kind("Satellite")}
    for mission in missions.values():
        assert set(mission["spec"]["groundStations"]) <= stations
    for sat in satellites.values():
        assert sat["spec"]["missionRef"]["name"] in missions
    for plan in _of_kind("CommandPlan"):
        mission = plan["spec"]["missionRef"]["name"]
        assert satellites[plan["spec"]["satelliteRef"]["name"]]["spec"]["missionRef"]["name"] == (
            mission
        )
        assert (
            plan["spec"]["start"]["nextPass"]["station"]
            in (missions[mission]["spec"]["groundStations"])
        )


def test_example_tles_are_real_sun_synchronous_elements() -> None:
    for sat in _of_kind("Satellite"):
        tle = parse_tle(f"{sat['spec']['tle']['line1']}\n{sat['spec']['tle']['line2']}")
        assert int(tle.satnum) == sat["spec"]["noradId"]
        orbit = orbit_summary(tle)
        assert 97.0 < orbit.inclination_deg < 98.0
        assert 480 < orbit.perigee_km <= orbit.apogee_km < 560
        assert 94 < orbit.period_min < 96


@pytest.mark.parametrize("plan", _of_kind("CommandPlan"), ids=lambda o: o["metadata"]["name"])
def test_example_plans_use_only_the_command_dictionary(plan: dict[str, Any]) -> None:
    spec = CommandPlanSpec.model_validate(plan["spec"])
    assert spec.validate_commands() == []
    for step in spec.steps:
        assert step.command in commands.DICTIONARY
        commands.validate_args(step.command, step.args)
    names = [s.command for s in spec.steps]
    assert "CAPTURE_IMAGE" in names
    assert "START_DOWNLINK" in names
    assert names.index("CAPTURE_IMAGE") < names.index("START_DOWNLINK")


def test_validate_commands_names_the_step_and_argument() -> None:
    plan = CommandPlanSpec.model_validate(_of_kind("CommandPlan")[0]["spec"])
    plan.steps[1].args = {"mode": "SLEEP"}
    plan.steps[2].command = "SELF_DESTRUCT"
    problems = plan.validate_commands()
    assert problems[0].startswith("spec.steps[1].args.mode (step 'payload-mode'):")
    assert "'SLEEP' is not one of" in problems[0]
    assert problems[1].startswith("spec.steps[2].command (step 'point-at-fire-front'):")


# --------------------------------------------------------------------------------------------
# What CEL cannot check, the models do
# --------------------------------------------------------------------------------------------


def _sat_spec() -> dict[str, Any]:
    spec: dict[str, Any] = _of_kind("Satellite")[0]["spec"]
    return spec


def test_bad_tle_checksum_names_the_line() -> None:
    spec = _sat_spec()
    line1 = spec["tle"]["line1"]
    spec["tle"]["line1"] = line1[:68] + str((int(line1[68]) + 1) % 10)
    with pytest.raises(ValidationError) as exc:
        SatelliteSpec.model_validate(spec)
    (error,) = exc.value.errors()
    assert error["loc"] == ("tle", "line1")
    assert "checksum (column 69)" in error["msg"]


def test_unknown_alert_channel_names_the_alert() -> None:
    spec = _of_kind("Mission")[0]["spec"]
    spec["alerts"][1]["channel"] = "power.flux_capacitor"
    with pytest.raises(ValidationError) as exc:
        KINDS_BY_NAME["Mission"].spec_model.model_validate(spec)
    (error,) = exc.value.errors()
    assert error["loc"] == ("alerts", 1, "channel")
    assert "unknown telemetry channel" in error["msg"]


def test_models_accept_python_names_and_emit_wire_names() -> None:
    gs = GroundStationSpec(latitude_deg=78.2297, longitude_deg=15.4077, altitude_m=500)
    assert gs.to_wire() == {
        "latitudeDeg": 78.2297,
        "longitudeDeg": 15.4077,
        "altitudeM": 500.0,
        "minElevationDeg": 5.0,
        "horizonMask": [],
        "band": "S",
    }


def test_unknown_fields_are_named() -> None:
    with pytest.raises(ValidationError) as exc:
        GroundStationSpec.model_validate({"latitudeDeg": 0, "longitudeDeg": 0, "lat": 1})
    assert exc.value.errors()[0]["loc"] == ("lat",)


@pytest.mark.parametrize(
    "module", [common_module, groundstation_module, satellite_module, schema_module]
)
def test_doctests(module: Any) -> None:
    run_doctests(module)
