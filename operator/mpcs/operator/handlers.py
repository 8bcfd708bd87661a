"""Every Kopf handler of the MPCS operator, registered in this one file.

Handlers are thin: they read the object and the operator's indexes, call the pure builders and the
planner, apply the result, and write status (conditions, phase, observedGeneration). Each one is
level-based, so create, update, resume and the periodic resync all run the same reconcile, and
running it again converges instead of duplicating. External resources (Kafka topics, the InfluxDB
bucket) go through their own converging adapters.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import kopf
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from mpcs.core import names, resources
from mpcs.operator import builders
from mpcs.operator.conditions import set_condition
from mpcs.operator.influx_buckets import InfluxBuckets, InfluxError
from mpcs.operator.kafka_topics import KafkaTopics
from mpcs.operator.kube import Kube, PeeringMissing, load_client
from mpcs.operator.metrics import Health, observe, serve
from mpcs.operator.pass_cache import PassCache
from mpcs.operator.planner import (
    PlanError,
    build_schedule,
    iso,
    resolve_start,
    validate_steps,
)
from mpcs.operator.settings import OperatorSettings
from mpcs.orbit.passes import Station
from mpcs.orbit.tle import TleError, orbit_summary, parse_tle

G, V = names.GROUP, names.VERSION
MISSIONS, SATELLITES, STATIONS, PLANS = "missions", "satellites", "groundstations", "commandplans"
_settings = OperatorSettings()
RESYNC_SECONDS = float(__import__("os").environ.get("MPCS_RESYNC_SECONDS", "60"))
log = logging.getLogger("mpcs.operator")


MISSION_LABEL = f"{G}/mission"


class _DiffBase(kopf.AnnotationsDiffBaseStorage):
    """Kopf's diff base, minus ignored fields, with stanzas left empty by them removed too.

    Without the second clean-up, a Satellite whose only label is ours would look changed
    (`labels: {}` against no labels) and cost one more handling cycle and patch per object.
    """

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        essence = super().build(body=body, extra_fields=extra_fields)
        self.remove_empty_stanzas(essence)
        return essence


# --- start-up ------------------------------------------------------------------------------------


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Kopf's own bookkeeping lives under our API group; shared clients go into the memo."""
    settings.persistence.finalizer = f"{G}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=G)
    settings.persistence.diffbase_storage = _DiffBase(
        prefix=G,
        key="last-handled-configuration",
        # The operator writes this label itself: it is not a change to react to.
        ignored_fields=[("metadata", "labels", MISSION_LABEL)],
    )
    settings.peering.lifetime = _settings.peering_lifetime
    # Kopf would post an Event for every successful handler (two requests per object); ours are
    # posted explicitly with kopf.event(), Kopf's own only for warnings and errors.
    settings.posting.level = logging.WARNING
    settings.queueing.error_delays = [1, 2, 5, 10, 30]
    # A burst of objects meets the apiserver's in-flight limits (429): retry soon, not late.
    settings.networking.error_backoffs = [0.2, 0.5, 1, 2, 3, 5, 8, 13]
    workers = _settings.max_in_flight + 4  # applies plus a few reads, each on its own connection
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=workers))
    api = load_client(pool_size=workers)
    memo.kube = Kube(api, max_in_flight=_settings.max_in_flight)
    if not settings.peering.standalone:
        # Namespaced operators meet in a KopfPeering per namespace, cluster-wide ones in one object.
        namespaces: list[str | None] = [*memo.get("namespaces", [])] or [None]
        for namespace in namespaces:
            try:
                await memo.kube.ensure_peering(settings.peering.name, namespace)
            except PeeringMissing as exc:
                raise kopf.PermanentError(str(exc)) from exc
    memo.topics = KafkaTopics(_settings.kafka_bootstrap)
    memo.influx = InfluxBuckets(
        url=_settings.influx_url, org=_settings.influx_org, token=await _influx_token(memo.kube)
    )
    memo.health = Health()
    # Kopf gives each object a shallow copy of this memo: shared caches must exist before that.
    memo.last_telemetry = {}
    memo.passes = PassCache(
        horizon_s=_settings.pass_horizon_hours * 3600, refresh_s=_settings.status_refresh_seconds
    )
    memo.metrics = (
        await serve(memo.health, _settings.metrics_port) if _settings.metrics_port else None
    )
    log.info(
        "operator started",
        extra={"kafka": _settings.kafka_bootstrap, "influx": _settings.influx_url},
    )


async def _influx_token(kube: Kube) -> str:
    if _settings.influx_token:
        return _settings.influx_token
    if not _settings.influx_token_secret or "/" not in _settings.influx_token_secret:
        raise kopf.PermanentError(
            "set MPCS_INFLUX_TOKEN, or MPCS_INFLUX_TOKEN_SECRET as namespace/name (key: token)"
        )
    namespace, name = _settings.influx_token_secret.split("/", 1)
    data = await kube.read_secret_data(namespace, name)
    if not data or "token" not in data:
        raise kopf.PermanentError(f"Secret {namespace}/{name} has no key 'token'")
    return data["token"]


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    await memo.topics.close()
    await memo.influx.close()
    if memo.metrics is not None:
        await memo.metrics.cleanup()


# --- indexes: in-memory views so reconciles need no extra GETs ---------------------------------


@kopf.index(G, V, MISSIONS)
def mission_index(namespace: str, name: str, spec: kopf.Spec, **_: Any) -> dict[Any, Any]:
    return {(namespace, name): dict(spec)}


@kopf.index(G, V, STATIONS)
def station_index(namespace: str, name: str, spec: kopf.Spec, **_: Any) -> dict[Any, Any]:
    return {(namespace, name): dict(spec)}


@kopf.index(G, V, SATELLITES)
def satellite_index(
    namespace: str,
    name: str,
    spec: kopf.Spec,
    status: kopf.Status,
    meta: kopf.Meta,
    uid: str,
    **_: Any,
) -> dict[Any, Any]:
    """Everything the mission's satellite refresher needs, so it never GETs a Satellite."""
    return {
        (namespace, spec["missionRef"]["name"]): {
            "name": name,
            "uid": uid,
            "generation": meta.get("generation", 0),
            "deleting": bool(meta.get("deletionTimestamp")),
            "tle": dict(spec["tle"]),
            "spec": dict(spec),
            "status": dict(status),
        }
    }


def _one(index: kopf.Index[Any, Any], key: Any) -> Any | None:
    store = index.get(key)
    return next(iter(store), None) if store else None


def _mission_stations(
    namespace: str, mission_spec: dict[str, Any], station_index: kopf.Index[Any, Any]
) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """(name, spec) of the mission's ground stations that exist, and the names that do not."""
    found, missing = [], []
    for station in mission_spec.get("groundStations") or []:
        spec = _one(station_index, (namespace, station))
        (found.append((station, spec)) if spec is not None else missing.append(station))
    return found, missing


def _station(name: str, spec: dict[str, Any]) -> Station:
    return Station(
        latitude_deg=spec["latitudeDeg"],
        longitude_deg=spec["longitudeDeg"],
        altitude_m=spec.get("altitudeM", 0.0),
        min_elevation_deg=spec.get("minElevationDeg", 5.0),
        name=name,
    )


# --- Mission -------------------------------------------------------------------------------------


@kopf.on.resume(G, V, MISSIONS)
@kopf.on.create(G, V, MISSIONS)
@kopf.on.update(G, V, MISSIONS, field="spec")
async def mission_changed(**kwargs: Any) -> None:
    await reconcile_mission(**kwargs)


@kopf.timer(G, V, MISSIONS, interval=RESYNC_SECONDS, initial_delay=RESYNC_SECONDS)
async def mission_resync(**kwargs: Any) -> None:
    """Drift repair: deleted topics, children or changed configs come back."""
    if kwargs["meta"].get("deletionTimestamp"):
        return
    await reconcile_mission(**kwargs)


async def reconcile_mission(
    *,
    body: kopf.Body,
    spec: kopf.Spec,
    name: str,
    namespace: str,
    meta: kopf.Meta,
    patch: kopf.Patch,
    memo: kopf.Memo,
    satellite_index: kopf.Index[Any, Any],
    **_: Any,
) -> None:
    with observe("Mission"):
        generation = int(meta.get("generation", 0))
        conditions = list((body.get("status") or {}).get("conditions") or [])
        owner = builders.owner_reference(dict(body))
        failures: list[str] = []

        def condition(kind: str, ok: bool | None, reason: str, message: str) -> None:
            nonlocal conditions
            conditions = set_condition(
                conditions,
                type=kind,
                status=ok,
                reason=reason,
                message=message,
                generation=generation,
            )

        topics = builders.mission_topics(namespace, name, dict(spec))
        try:
            changes = await memo.topics.ensure_topics(topics)
            memo.health.mark("kafka", True)
            condition("TopicsReady", True, "Converged", f"{len(topics)} topics converged")
            if changes.changed:
                kopf.event(
                    dict(body),
                    type="Normal",
                    reason="TopicsConverged",
                    message=f"created {changes.created}, grown {changes.grown}, "
                    f"reconfigured {changes.reconfigured}",
                )
        except (TimeoutError, KafkaError, OSError) as exc:
            memo.health.mark("kafka", False)
            condition("TopicsReady", False, "KafkaUnavailable", str(exc) or type(exc).__name__)
            failures.append(f"Kafka: {exc!r}")

        bucket = names.bucket(namespace, name)
        try:
            state = await memo.influx.ensure_bucket(
                bucket, retention_seconds=builders.retention_seconds(dict(spec))
            )
            memo.health.mark("influxdb", True)
            await memo.kube.apply(
                builders.bucket_token_secret(
                    namespace=namespace,
                    mission=name,
                    owner=owner,
                    bucket=bucket,
                    token=state.token,
                    settings=_settings,
                )
            )
            condition(
                "BucketReady",
                True,
                "Converged",
                f"bucket {bucket}, retention {state.retention_seconds // 86400} d",
            )
        except (InfluxError, httpx.HTTPError) as exc:
            memo.health.mark("influxdb", False)
            condition("BucketReady", False, "InfluxDBUnavailable", str(exc))
            failures.append(f"InfluxDB: {exc}")

        await _ensure_api_tokens(
            memo.kube, namespace=namespace, mission=name, owner=owner, spec=dict(spec)
        )
        await memo.kube.apply_all(
            builders.mission_workloads(
                namespace=namespace, mission=name, owner=owner, spec=dict(spec), settings=_settings
            )
        )
        condition(
            "IngestReady",
            True,
            "DeploymentApplied",
            f"Deployment {names.child_name(name, builders.INGEST)} applied",
        )
        condition(
            "CommandApiReady",
            True,
            "DeploymentApplied",
            f"Deployment and Service {names.child_name(name, builders.COMMAND_API)} applied",
        )

        ready = not failures
        condition(
            "Ready",
            ready,
            "Provisioned" if ready else "Degraded",
            "all mission resources converged" if ready else "; ".join(failures),
        )
        satellites: Any = satellite_index.get((namespace, name)) or []
        patch.status.update(
            {
                "phase": "Ready" if ready else "Degraded",
                "conditions": conditions,
                "topics": {t.name.rsplit(".", 1)[-1]: t.name for t in topics},
                "bucket": bucket,
                "endpoints": {"commandApi": builders.command_api_endpoint(namespace, name)},
                "satelliteCount": len(satellites),
                "observedGeneration": generation,
            }
        )
        if failures:
            raise kopf.TemporaryError("; ".join(failures), delay=10)


async def _ensure_api_tokens(
    kube: Kube, *, namespace: str, mission: str, owner: dict[str, Any], spec: dict[str, Any]
) -> None:
    """Create missing role tokens once; existing tokens are never rotated by a reconcile."""
    secret_name = builders.api_tokens_secret_name(mission, spec)
    existing = await kube.read_secret_data(namespace, secret_name) or {}
    if all(role in existing for role in builders.API_ROLES):
        return
    tokens = {role: existing.get(role) or secrets.token_urlsafe(32) for role in builders.API_ROLES}
    await kube.apply(
        builders.api_tokens_secret(
            namespace=namespace, mission=mission, owner=owner, name=secret_name, tokens=tokens
        )
    )


@kopf.on.delete(G, V, MISSIONS)
async def mission_deleted(
    *,
    body: kopf.Body,
    spec: kopf.Spec,
    name: str,
    namespace: str,
    memo: kopf.Memo,
    patch: kopf.Patch,
    satellite_index: kopf.Index[Any, Any],
    **_: Any,
) -> None:
    """Wait for the mission's Satellites to go, then apply the deletion policy to Kafka/InfluxDB."""
    satellites = sorted(s["name"] for s in satellite_index.get((namespace, name)) or [])
    if satellites:
        patch.status["phase"] = "Deleting"
        message = (
            f"waiting for {len(satellites)} Satellite(s) of this mission to be deleted: "
            f"{', '.join(satellites[:10])}"
        )
        kopf.event(body, type="Normal", reason="DeletionWaiting", message=message)
        raise kopf.TemporaryError(message, delay=5)
    topics = [t.name for t in builders.mission_topics(namespace, name, dict(spec))]
    bucket = names.bucket(namespace, name)
    if spec.get("deletionPolicy", "Retain") == "Delete":
        deleted = await memo.topics.delete_topics(topics)
        bucket_deleted = await memo.influx.delete_bucket(bucket)
        kopf.event(
            dict(body),
            type="Normal",
            reason="ExternalResourcesDeleted",
            message=f"deleted topics {deleted} and bucket {bucket} ({bucket_deleted})",
        )
    else:
        kopf.event(
            dict(body),
            type="Normal",
            reason="ExternalResourcesRetained",
            message=f"deletionPolicy Retain: kept topics {topics} and bucket {bucket}",
        )


# --- Satellite -----------------------------------------------------------------------------------


@kopf.on.resume(G, V, SATELLITES)
@kopf.on.create(G, V, SATELLITES)
@kopf.on.update(G, V, SATELLITES, field="spec")
async def satellite_changed(**kwargs: Any) -> None:
    await reconcile_satellite(**kwargs)


async def reconcile_satellite(
    *,
    body: kopf.Body,
    spec: kopf.Spec,
    name: str,
    namespace: str,
    meta: kopf.Meta,
    patch: kopf.Patch,
    memo: kopf.Memo,
    mission_index: kopf.Index[Any, Any],
    station_index: kopf.Index[Any, Any],
    **_: Any,
) -> None:
    with observe("Satellite"):
        generation = int(meta.get("generation", 0))
        status = dict(body.get("status") or {})
        conditions = list(status.get("conditions") or [])
        mission_name = spec["missionRef"]["name"]

        def condition(kind: str, ok: bool | None, reason: str, message: str) -> None:
            nonlocal conditions
            conditions = set_condition(
                conditions,
                type=kind,
                status=ok,
                reason=reason,
                message=message,
                generation=generation,
            )

        if (meta.get("labels") or {}).get(MISSION_LABEL) != mission_name:
            patch.metadata.setdefault("labels", {})[MISSION_LABEL] = mission_name
        try:
            model = resources.SatelliteSpec.model_validate(dict(spec))
            tle = parse_tle(f"{model.tle.line1}\n{model.tle.line2}")
        except (ValidationError, TleError) as exc:
            # What CEL cannot check (e.g. the TLE checksum): a condition and an Event, no retry.
            message = _validation_message(exc)
            condition("Ready", False, "InvalidSpec", message)
            kopf.warn(body, reason="InvalidSpec", message=message)
            patch.status.update(
                {"phase": "Invalid", "conditions": conditions, "observedGeneration": generation}
            )
            return
        orbit = orbit_summary(tle)
        mission = _one(mission_index, (namespace, mission_name))
        if mission is None:
            condition(
                "Ready",
                False,
                "MissionNotFound",
                f"Mission {mission_name!r} does not exist in namespace {namespace}",
            )
            patch.status.update(
                {
                    "phase": "WaitingForMission",
                    "conditions": conditions,
                    "observedGeneration": generation,
                }
            )
            raise kopf.TemporaryError(f"waiting for Mission {mission_name}", delay=10)

        stations, missing = _mission_stations(namespace, mission, station_index)
        config = model.simulator_config([builders.station_for_simulator(n, s) for n, s in stations])
        await memo.kube.apply_all(
            builders.satellite_children(
                namespace=namespace,
                satellite=name,
                mission=mission_name,
                owner=builders.owner_reference(dict(body)),
                config=config,
                settings=_settings,
            )
        )
        enabled = bool((spec.get("simulator") or {}).get("enabled", True))
        condition(
            "SimulatorReady",
            True,
            "DeploymentApplied" if enabled else "Disabled",
            f"Deployment {names.child_name(name, builders.SIMULATOR)} applied"
            + ("" if enabled else " with 0 replicas (simulator.enabled=false)"),
        )
        last = await _last_telemetry(memo, namespace, mission_name, name)
        flowing, reason, message = telemetry_flowing(
            last, interval_s=model.telemetry_interval_seconds, now=dt.datetime.now(dt.UTC)
        )
        condition("TelemetryFlowing", flowing, reason, message)
        condition(
            "Ready",
            True,
            "Provisioned",
            "simulator provisioned" + (f"; missing ground stations: {missing}" if missing else ""),
        )
        new_status: dict[str, Any] = {
            "phase": "Ready",
            "conditions": conditions,
            "orbit": {
                "periodMinutes": round(orbit.period_min, 2),
                "inclinationDeg": round(orbit.inclination_deg, 3),
                "apogeeKm": round(orbit.apogee_km, 1),
                "perigeeKm": round(orbit.perigee_km, 1),
            },
            "observedGeneration": generation,
        }
        if last is not None:
            new_status["lastTelemetryTime"] = iso(last)
        patch.status.update(new_status)


# One refresher per Mission, not two timers per Satellite: per-object timers make Kopf add a
# finalizer to every Satellite and keep two tasks per object, which at 1,000 Satellites cost a
# patch each, hundreds of MB and a burst of next-pass work in the middle of the creation burst.
_FIRST_PASS_DELAY_S = 15.0


@kopf.daemon(G, V, MISSIONS, cancellation_timeout=5)
async def mission_satellites_refresher(
    *,
    name: str,
    namespace: str,
    stopped: kopf.DaemonStopped,
    memo: kopf.Memo,
    mission_index: kopf.Index[Any, Any],
    station_index: kopf.Index[Any, Any],
    satellite_index: kopf.Index[Any, Any],
    **_: Any,
) -> None:
    """Drift repair and status refresh of the mission's Satellites, next pass included.

    Every resync period each Satellite is reconciled again (children re-applied, conditions
    refreshed); in between, Satellites that are Ready but have no next pass yet get one soon
    after creation. Status is patched only when it changed.
    """
    tick = min(RESYNC_SECONDS, _FIRST_PASS_DELAY_S)
    last_full = asyncio.get_running_loop().time()
    while not stopped:
        await stopped.wait(tick)
        if stopped:
            return
        now = asyncio.get_running_loop().time()
        full = now - last_full >= RESYNC_SECONDS
        last_full = now if full else last_full
        for sat in list(satellite_index.get((namespace, name)) or []):
            if stopped:
                return
            if sat["deleting"] or not (full or _needs_first_pass(sat)):
                continue
            try:
                await _refresh_satellite(
                    sat,
                    namespace=namespace,
                    memo=memo,
                    mission_index=mission_index,
                    station_index=station_index,
                    full=full,
                )
            except Exception as exc:  # one bad Satellite must not stop the others' refresh
                log.warning(
                    "satellite refresh failed",
                    extra={"satellite": sat["name"], "namespace": namespace, "error": str(exc)},
                )


def _needs_first_pass(sat: dict[str, Any]) -> bool:
    return sat["status"].get("phase") == "Ready" and "nextPass" not in sat["status"]


async def _refresh_satellite(
    sat: dict[str, Any],
    *,
    namespace: str,
    memo: kopf.Memo,
    mission_index: kopf.Index[Any, Any],
    station_index: kopf.Index[Any, Any],
    full: bool,
) -> None:
    """The same reconcile the handlers run, plus the next pass; one status patch if changed."""
    status = sat["status"]
    meta = {
        "name": sat["name"],
        "namespace": namespace,
        "uid": sat["uid"],
        "generation": sat["generation"],
    }
    body = {
        "apiVersion": names.API_VERSION,
        "kind": "Satellite",
        "metadata": meta,
        "spec": sat["spec"],
        "status": status,
    }
    patch = kopf.Patch()
    if full:
        await reconcile_satellite(
            body=body,
            spec=sat["spec"],
            name=sat["name"],
            namespace=namespace,
            meta=meta,
            patch=patch,
            memo=memo,
            mission_index=mission_index,
            station_index=station_index,
        )
    new_status = {**status, **patch.get("status", {})}
    if new_status.get("phase") == "Ready":
        next_pass = await _satellite_next_pass(
            sat["spec"], namespace, memo, mission_index, station_index
        )
        if next_pass is not None or "nextPass" in new_status:
            new_status["nextPass"] = next_pass
    changed = {k: v for k, v in new_status.items() if status.get(k) != v}
    if changed:
        await memo.kube.patch_status(
            plural=SATELLITES, namespace=namespace, name=sat["name"], status=changed
        )


async def _satellite_next_pass(
    spec: dict[str, Any],
    namespace: str,
    memo: kopf.Memo,
    mission_index: kopf.Index[Any, Any],
    station_index: kopf.Index[Any, Any],
) -> dict[str, Any] | None:
    """Next pass over the mission's stations (shared, cached predictions; off the event loop)."""
    mission = _one(mission_index, (namespace, spec["missionRef"]["name"]))
    stations = _mission_stations(namespace, mission or {}, station_index)[0]
    if not stations:
        return None
    with observe("SatelliteNextPass"):
        tle = parse_tle(f"{spec['tle']['line1']}\n{spec['tle']['line2']}")
        now = dt.datetime.now(dt.UTC)
        result: dict[str, Any] | None = await asyncio.to_thread(
            _next_pass, memo.passes, tle, stations, now
        )
        return result


_LAST_TELEMETRY_TTL_S = 5.0


async def _last_telemetry(
    memo: kopf.Memo, namespace: str, mission: str, satellite: str
) -> dt.datetime | None:
    """Newest stored sample of a satellite: one InfluxDB query per mission per few seconds.

    Single-flight: a burst of reconciles shares the one query in flight instead of each sending
    its own (1,000 new Satellites would otherwise send 1,000 identical queries).
    """
    cache: dict[tuple[str, str], tuple[float, asyncio.Future[dict[str, dt.datetime]]]] = (
        memo.last_telemetry
    )
    key = (namespace, mission)
    now = asyncio.get_running_loop().time()
    entry = cache.get(key)
    if entry is None or now - entry[0] > _LAST_TELEMETRY_TTL_S:
        entry = (now, asyncio.ensure_future(_query_last_telemetry(memo, namespace, mission)))
        cache[key] = entry
    times = await asyncio.shield(entry[1])
    return times.get(satellite)


async def _query_last_telemetry(
    memo: kopf.Memo, namespace: str, mission: str
) -> dict[str, dt.datetime]:
    try:
        times: dict[str, dt.datetime] = await memo.influx.last_telemetry(
            names.bucket(namespace, mission)
        )
    except (InfluxError, httpx.HTTPError):
        return {}
    return times


def telemetry_flowing(
    last: dt.datetime | None, *, interval_s: float, now: dt.datetime
) -> tuple[bool | None, str, str]:
    """TelemetryFlowing from the newest stored sample (the spacecraft clock may run ahead)."""
    if last is None:
        return None, "NoTelemetryYet", "no sample stored in the last hour"
    stale_after_s = max(60.0, 5 * interval_s)
    age_s = (now - last).total_seconds()
    if age_s > stale_after_s:
        return False, "Stale", f"newest sample is {age_s:.0f} s old (limit {stale_after_s:.0f} s)"
    return True, "Flowing", f"newest sample at {iso(last)}"


def _validation_message(exc: ValidationError | TleError) -> str:
    """`spec.<field>: <reason>` for each problem, as a user fixing the manifest needs it."""
    if isinstance(exc, TleError):
        return f"spec.tle: {exc}"
    return "; ".join(
        "spec." + ".".join(str(p) for p in err["loc"]) + f": {err['msg']}" for err in exc.errors()
    )


def _next_pass(
    cache: PassCache, tle: Any, stations: list[tuple[str, dict[str, Any]]], now: dt.datetime
) -> dict[str, Any] | None:
    best = None
    for station_name, station_spec in stations:
        for p in cache.upcoming(tle, _station(station_name, station_spec), now)[:1]:
            if best is None or p.aos < best[1].aos:
                best = (station_name, p)
    if best is None:
        return None
    return {
        "station": best[0],
        "aos": iso(best[1].aos),
        "los": iso(best[1].los),
        "maxElevationDeg": round(best[1].max_elevation_deg, 1),
    }


# --- GroundStation -------------------------------------------------------------------------------


@kopf.timer(G, V, STATIONS, interval=RESYNC_SECONDS, initial_delay=1)
async def station_passes(
    *,
    name: str,
    namespace: str,
    spec: kopf.Spec,
    meta: kopf.Meta,
    patch: kopf.Patch,
    memo: kopf.Memo,
    mission_index: kopf.Index[Any, Any],
    satellite_index: kopf.Index[Any, Any],
    **_: Any,
) -> None:
    """Upcoming passes of the satellites of every mission that uses this station."""
    with observe("GroundStation"):
        users = [
            mission
            for (ns, mission), specs in mission_index.items()
            if ns == namespace and any(name in (s.get("groundStations") or []) for s in specs)
        ]
        satellites: list[tuple[str, dict[str, Any]]] = [
            (mission, sat)
            for mission in users
            for sat in satellite_index.get((namespace, mission)) or []
        ]
        passes = await asyncio.to_thread(_station_passes, memo.passes, name, dict(spec), satellites)
        patch.status.update(
            {
                "nextPasses": passes,
                "conditions": set_condition(
                    None,
                    type="Ready",
                    status=True,
                    reason="Predicted",
                    message=f"{len(passes)} upcoming passes of {len(satellites)} satellite(s) "
                    f"from {len(users)} mission(s)",
                    generation=int(meta.get("generation", 0)),
                ),
                "observedGeneration": int(meta.get("generation", 0)),
            }
        )


def _station_passes(
    cache: PassCache, name: str, spec: dict[str, Any], satellites: list[tuple[str, dict[str, Any]]]
) -> list[dict[str, Any]]:
    now = dt.datetime.now(dt.UTC)
    station = _station(name, spec)
    found = []
    for mission, sat in satellites:
        try:
            tle = parse_tle(f"{sat['tle']['line1']}\n{sat['tle']['line2']}")
        except TleError:
            continue
        for p in cache.upcoming(tle, station, now)[:3]:
            found.append(
                {
                    "satellite": sat["name"],
                    "mission": mission,
                    "aos": iso(p.aos),
                    "los": iso(p.los),
                    "maxElevationDeg": round(p.max_elevation_deg, 1),
                }
            )
    return sorted(found, key=lambda p: p["aos"])[:20]


# --- CommandPlan ---------------------------------------------------------------------------------

_EXECUTOR_PHASES = ("Running", "Succeeded", "Failed", "Cancelled")


@kopf.on.resume(G, V, PLANS)
@kopf.on.create(G, V, PLANS)
@kopf.on.update(G, V, PLANS, field="spec")
async def plan_changed(
    *,
    body: kopf.Body,
    spec: kopf.Spec,
    name: str,
    namespace: str,
    meta: kopf.Meta,
    patch: kopf.Patch,
    memo: kopf.Memo,
    mission_index: kopf.Index[Any, Any],
    station_index: kopf.Index[Any, Any],
    **_: Any,
) -> None:
    """Validate and schedule; once the mission's executor runs the plan, it owns the status."""
    with observe("CommandPlan"):
        generation = int(meta.get("generation", 0))
        status = dict(body.get("status") or {})
        conditions = list(status.get("conditions") or [])
        if status.get("phase") in _EXECUTOR_PHASES:
            return

        def fail(reason: str, error: PlanError) -> None:
            kopf.warn(body, reason=reason, message=str(error))
            patch.status.update(
                {
                    "phase": "Failed",
                    "conditions": set_condition(
                        conditions,
                        type="Scheduled",
                        status=False,
                        reason=reason,
                        message=str(error),
                        generation=generation,
                    ),
                    "observedGeneration": generation,
                }
            )

        mission_name, sat_name = spec["missionRef"]["name"], spec["satelliteRef"]["name"]
        try:
            validate_steps([dict(s) for s in spec.get("steps") or []])
        except PlanError as exc:
            return fail("InvalidStep", exc)
        mission = _one(mission_index, (namespace, mission_name))
        satellite = await memo.kube.get_custom(
            group=G, version=V, plural=SATELLITES, namespace=namespace, name=sat_name
        )
        if mission is None or satellite is None:
            missing = "Mission" if mission is None else "Satellite"
            ref = mission_name if mission is None else sat_name
            patch.status.update(
                {
                    "phase": "Pending",
                    "conditions": set_condition(
                        conditions,
                        type="Scheduled",
                        status=False,
                        reason=f"{missing}NotFound",
                        message=f"{missing} {ref!r} not found in {namespace}",
                        generation=generation,
                    ),
                    "observedGeneration": generation,
                }
            )
            raise kopf.TemporaryError(f"waiting for {missing} {ref}", delay=10)
        if satellite["spec"]["missionRef"]["name"] != mission_name:
            return fail(
                "SatelliteNotInMission",
                PlanError(
                    "spec.satelliteRef.name",
                    f"Satellite {sat_name!r} belongs to Mission "
                    f"{satellite['spec']['missionRef']['name']!r}, not {mission_name!r}",
                ),
            )
        try:
            tle = parse_tle(
                f"{satellite['spec']['tle']['line1']}\n{satellite['spec']['tle']['line2']}"
            )
            stations = {
                n: _station(n, s)
                for n, s in _mission_stations(namespace, mission, station_index)[0]
            }
            start = await asyncio.to_thread(
                resolve_start,
                dict(spec["start"]),
                tle=tle,
                stations=stations,
                now=dt.datetime.now(dt.UTC),
                horizon_s=_settings.pass_horizon_hours * 3600,
            )
        except TleError as exc:
            return fail("InvalidTLE", PlanError("spec.satelliteRef.name", f"satellite TLE: {exc}"))
        except PlanError as exc:
            return fail("Unschedulable", exc)
        schedule = build_schedule([dict(s) for s in spec["steps"]], start.at)
        kopf.event(
            dict(body),
            type="Normal",
            reason="Scheduled",
            message=f"{len(schedule)} steps from {iso(start.at)} ({start.reason})",
        )
        patch.status.update(
            {
                "phase": "Scheduled",
                "startTime": iso(start.at),
                "schedule": schedule,
                "conditions": set_condition(
                    conditions,
                    type="Scheduled",
                    status=True,
                    reason="Resolved",
                    message=start.reason,
                    generation=generation,
                ),
                "observedGeneration": generation,
            }
        )
