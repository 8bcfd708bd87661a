"""Fault soak: kill -9 the pieces of a running mission in random order for 10 minutes, then check
that nothing was lost, nothing was done twice and everything came back.

One run starts its own dev stack (loopback only), the operator as a process under the Helm
chart's ServiceAccount (`mpcs.dev.cluster.operator_kubeconfig`), and a local runner (the dev
kubelet) that runs what the operator deploys. It applies the examples' ground stations, Mission
(with alert rules, so an alerts runner is deployed) and three Satellites at a 1 s telemetry
interval into namespace `soak`, waits until they are Ready, then for `--minutes`:

- kills, one at a time, with SIGKILL: the Kafka broker, InfluxDB, the operator, the ingest, one
  simulator, the command API, the alerts runner — in rounds, each a random order of all seven, so
  every piece is killed at least once when the soak lasts a round (about 8 minutes). The bench
  restarts the two servers and the operator at once (as a supervisor would); the local runner
  restarts the replicas itself, with a kubelet's crash back-off (2, 4, 8, 16, 30 s …, never reset
  within a soak). Recovery is timed per kill: `ready` = the killed component answers its readiness
  again (server health, the operator's /healthz, the replica's readiness probe); `flowing` = every
  satellite has a telemetry sample stamped after the kill stored in InfluxDB, checked once the
  component is ready. The next kill waits for both (or 180 s), then 5–20 s more.
- meanwhile sends a PING every 3 s through the command API, each with its own Idempotency-Key,
  and retries a request that fails (connection refused, 5xx) with the same key until the API
  accepts it.

Afterwards (no more kills): every Mission and Satellite must converge to Ready; every sample on
the telemetry topic (the `seq` each carries, per satellite) must be stored in InfluxDB (the `obc`
measurement's `seq` field at the sample's time); each command id may have at most one `executed`
ack on the acks topic, and each Idempotency-Key at most one command; no child object of the
operator may be left without an existing owner.

Writes bench/results/soak.json and soak.md (`--minutes` other than 10: soak_short.*, so a short
trial never replaces the measurement). Not a test: the figures depend on the machine's load.
Run: `.venv/bin/python bench/soak.py [--minutes 10] [--seed 1]`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import copy
import datetime as dt
import itertools
import json
import os
import random
import signal
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml
from aiokafka import AIOKafkaConsumer
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from machine import machine

from mpcs.core import names
from mpcs.dev import cluster
from mpcs.dev.process import free_port, spawn, stop_group
from mpcs.dev.runner import LocalRunner
from mpcs.dev.servers import Server
from mpcs.dev.stack import DevStack, provision_alerts
from mpcs.kit.influx import parse_annotated_csv

RESULTS = Path(__file__).parent / "results"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NAMESPACE = "soak"
MISSION = "wildfire"
TARGETS = ("kafka", "influxdb", "operator", "ingest", "simulator", "command-api", "alerts")
RECOVERY_TIMEOUT_S = 180.0
COMMAND_EVERY_S = 3.0
FAR_FUTURE = "2100-01-01T00:00:00Z"
NOT_RUNNING = "no running replica"


def say(message: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class Kill:
    """One SIGKILL and how long its target took to come back."""

    target: str
    detail: str
    at_s: float
    ready_s: float | None = None
    flowing_s: float | None = None
    note: str = ""


@dataclass
class CommandLog:
    """What the command sender did: Idempotency-Key → the command ids the API answered with."""

    ids_by_key: dict[str, set[str]] = field(default_factory=lambda: collections.defaultdict(set))
    attempts: int = 0
    failures: collections.Counter[str] = field(default_factory=collections.Counter)
    unaccepted: list[str] = field(default_factory=list)


class Operator:
    """`mpcs operator run` under the chart's ServiceAccount, restarted by the bench."""

    def __init__(self, stack: DevStack, kubeconfig: Path) -> None:
        self.stack = stack
        self.kubeconfig = kubeconfig
        self.port = free_port()
        self.proc: Any = None
        conn = stack.connection_info()
        self.env = {
            **provision_alerts(conn.moto_endpoint_url).operator_env(),
            "KUBECONFIG": str(kubeconfig),
            "MPCS_KAFKA_BOOTSTRAP": conn.kafka_bootstrap_servers,
            "MPCS_INFLUX_URL": conn.influx_url,
            "MPCS_INFLUX_ORG": conn.influx_org,
            "MPCS_INFLUX_TOKEN": conn.influx_token,
            "MPCS_METRICS_PORT": str(self.port),
            "MPCS_RESYNC_SECONDS": "10",
            "MPCS_IMAGE": "mpcs:soak",
        }

    def start(self) -> None:
        self.proc = spawn(
            [sys.executable, "-m", "mpcs.cli", "operator", "run", "--standalone"],
            log=self.stack.root / "logs" / "operator.log",
            env=self.env,
            die_with_parent=True,
        )

    def healthy(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            stop_group(self.proc.pid, proc=self.proc)
            self.proc = None


class Soak:
    def __init__(self, root: Path, *, minutes: float, seed: int) -> None:
        self.root = root
        self.minutes = minutes
        self.rng = random.Random(seed)
        self.stack = DevStack(root, die_with_parent=True)
        self.kills: list[Kill] = []
        #: Kills not made because the target's replica was not running (in crash back-off).
        self.skipped: collections.Counter[str] = collections.Counter()
        self.commands = CommandLog()
        self.satellites: list[str] = []
        self.stop_commands = threading.Event()
        self.t0 = time.monotonic()

    # -- set-up ------------------------------------------------------------------------------

    def start(self) -> None:
        conn = self.stack.start()
        self.conn = conn
        self.admin = k8s_config.new_client_from_config(config_file=conn.kubeconfig)  # type: ignore[no-untyped-call]
        cluster.install_crds(self.admin)
        kubeconfig = cluster.operator_kubeconfig(
            self.admin,
            admin_kubeconfig=Path(conn.kubeconfig),
            out=self.root / "operator.kubeconfig",
        )
        self.operator = Operator(self.stack, kubeconfig)
        self.operator.start()
        self.runner = LocalRunner(
            api=self.admin,
            kubeconfig=Path(conn.kubeconfig),
            log_dir=self.root / "logs" / "workloads",
            targets_dir=Path(conn.prometheus_targets_dir),
        )
        self.runner_thread = self.runner.start_in_thread()
        self.custom = k8s.CustomObjectsApi(self.admin)
        k8s.CoreV1Api(self.admin).create_namespace({"metadata": {"name": NAMESPACE}})
        for path in sorted(EXAMPLES.glob("*.yaml")):
            for doc in yaml.safe_load_all(path.read_text()):
                if not doc or doc["kind"] == "CommandPlan":
                    continue
                obj = copy.deepcopy(doc)
                if obj["kind"] == "Satellite":
                    obj["spec"]["telemetryIntervalSeconds"] = 1
                    self.satellites.append(obj["metadata"]["name"])
                plural = obj["kind"].lower() + "s"
                self.custom.create_namespaced_custom_object(
                    names.GROUP, names.VERSION, NAMESPACE, plural, obj
                )
        say(f"applied the examples; satellites {', '.join(self.satellites)}")
        not_ready = self.wait_ready(timeout_s=300)
        if not_ready:
            raise RuntimeError(f"not Ready after 300 s: {not_ready}")
        self.bucket = names.bucket(NAMESPACE, MISSION)
        self.wait_flowing(since_ns=0, satellites=self.satellites, timeout_s=120)
        say("mission and satellites Ready, telemetry stored")

    # -- what "ready" means ------------------------------------------------------------------

    def not_ready(self) -> list[str]:
        """Missions and Satellites of the soak namespace whose phase is not Ready."""
        out = []
        for plural in ("missions", "satellites"):
            try:
                items = self.custom.list_namespaced_custom_object(
                    names.GROUP, names.VERSION, NAMESPACE, plural
                )["items"]
            except ApiException as exc:
                return [f"{plural}: {exc.status}"]
            for item in items:
                phase = (item.get("status") or {}).get("phase")
                if phase != "Ready":
                    out.append(f"{plural}/{item['metadata']['name']}={phase}")
        return out

    def wait_ready(self, *, timeout_s: float) -> list[str]:
        deadline = time.monotonic() + timeout_s
        while True:
            pending = self.not_ready()
            if not pending or time.monotonic() > deadline:
                return pending
            time.sleep(1)

    def stored_since(self, since_ns: int) -> set[str]:
        """Satellites with a telemetry sample stamped at or after `since_ns` in InfluxDB."""
        start = dt.datetime.fromtimestamp(since_ns / 1e9, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        try:
            text = self.conn.flux_csv(
                f'from(bucket: "{self.bucket}") |> range(start: {start}, stop: {FAR_FUTURE}) '
                '|> filter(fn: (r) => r._measurement == "obc" and r._field == "seq") '
                '|> keep(columns: ["satellite", "_value"]) |> distinct(column: "satellite")',
                timeout_s=5,
            )
        except Exception:  # InfluxDB down or restarting: nothing known to be stored yet
            return set()
        return {row["satellite"] for row in parse_annotated_csv(text) if row.get("satellite")}

    def wait_flowing(self, *, since_ns: int, satellites: list[str], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if set(satellites) <= self.stored_since(since_ns):
                return True
            time.sleep(1)
        return False

    # -- the kills ---------------------------------------------------------------------------

    def _restart_server(self, server: Server) -> None:
        assert server.pid is not None
        assert server.proc is not None
        os.killpg(server.pid, signal.SIGKILL)
        server.proc.wait()
        server.start()
        server.wait_ready(timeout_s=RECOVERY_TIMEOUT_S)

    def _replica_key(self, deployment: str) -> str | None:
        """A running replica (`<namespace>/<deployment>/<index>`) whose Deployment name contains
        `deployment`, at random."""
        keys = [
            key
            for key, status in self.runner.pod_status().items()
            if key.startswith(f"{NAMESPACE}/") and deployment in key.split("/")[1] and status.pid
        ]
        return self.rng.choice(keys) if keys else None

    def kill_one(self, target: str) -> Kill:
        at = time.time_ns()
        started = time.monotonic()
        kill = Kill(target=target, detail=target, at_s=round(started - self.t0, 1))
        if target in ("kafka", "influxdb"):
            server = self.stack.kafka if target == "kafka" else self.stack.influx
            self._restart_server(server)
            kill.ready_s = round(time.monotonic() - started, 2)
        elif target == "operator":
            assert self.operator.proc is not None
            os.killpg(self.operator.proc.pid, signal.SIGKILL)
            self.operator.proc.wait()
            self.operator.start()
            while not self.operator.healthy():
                if time.monotonic() - started > RECOVERY_TIMEOUT_S:
                    break
                time.sleep(0.2)
            else:
                kill.ready_s = round(time.monotonic() - started, 2)
        else:
            # A simulator Deployment is `<satellite>-simulator` (or a pooled one of the mission).
            deployment = "-simulator" if target == "simulator" else f"{MISSION}-{target}"
            key = self._replica_key(deployment)
            if key is None:
                kill.note = NOT_RUNNING
                return kill
            kill.detail = key
            old_pid = self.runner.pod_status()[key].pid
            assert old_pid is not None
            os.killpg(old_pid, signal.SIGKILL)
            while time.monotonic() - started < RECOVERY_TIMEOUT_S:
                status = self.runner.pod_status().get(key)
                if status is not None and status.ready and status.pid not in (None, old_pid):
                    kill.ready_s = round(time.monotonic() - started, 2)
                    break
                time.sleep(0.2)
        remaining = max(1.0, RECOVERY_TIMEOUT_S - (time.monotonic() - started))
        if self.wait_flowing(since_ns=at, satellites=self.satellites, timeout_s=remaining):
            kill.flowing_s = round(time.monotonic() - started, 2)
        return kill

    def chaos(self) -> None:
        end = time.monotonic() + self.minutes * 60
        round_left: list[str] = []
        while time.monotonic() < end:
            if not round_left:
                round_left = self.rng.sample(TARGETS, len(TARGETS))
            target = round_left.pop()
            say(f"kill -9 {target}")
            kill = self.kill_one(target)
            say(f"  {kill.detail}: ready {kill.ready_s} s, flowing {kill.flowing_s} s {kill.note}")
            if kill.note == NOT_RUNNING:  # in crash back-off already: nothing to kill
                self.skipped[target] += 1
                round_left.insert(0, target)  # tried again last in this round
                time.sleep(2)
                continue
            self.kills.append(kill)
            time.sleep(self.rng.uniform(5, 20))

    # -- the commands ------------------------------------------------------------------------

    def _api_url(self) -> str | None:
        prefix = f"{NAMESPACE}/{names.child_name(MISSION, 'command-api')}/"
        for key, ports in self.runner.endpoints().items():
            if key.startswith(prefix) and "http" in ports:
                return f"http://127.0.0.1:{ports['http']}"
        return None

    def send_commands(self) -> None:
        secret = k8s.CoreV1Api(self.admin).read_namespaced_secret(
            names.child_name(MISSION, "api-tokens"), NAMESPACE
        )
        token = base64.b64decode((secret.data or {})["operator"]).decode()
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(timeout=10) as http:
            n = 0
            while not self.stop_commands.is_set():
                key = f"soak-{n:05d}-{uuid.uuid4().hex[:6]}"
                satellite = self.satellites[n % len(self.satellites)]
                n += 1
                accepted = False
                while not accepted:
                    url = self._api_url()
                    self.commands.attempts += 1
                    try:
                        if url is None:
                            raise httpx.ConnectError("no command API endpoint")
                        response = http.post(
                            f"{url}/api/v1/satellites/{satellite}/commands",
                            json={"name": "PING"},
                            headers={**headers, "Idempotency-Key": key},
                        )
                        if response.status_code in (200, 202):
                            self.commands.ids_by_key[key].add(response.json()["id"])
                            accepted = True
                        else:
                            self.commands.failures[str(response.status_code)] += 1
                    except httpx.HTTPError as exc:
                        self.commands.failures[type(exc).__name__] += 1
                    if not accepted and self.stop_commands.wait(1.0):
                        self.commands.unaccepted.append(key)
                        return
                self.stop_commands.wait(COMMAND_EVERY_S)

    # -- the checks --------------------------------------------------------------------------

    async def read_topic(self, kind: names.Topic) -> list[dict[str, Any]]:
        """Every message of one of the mission's topics, up to its end offsets now."""
        name = names.topic(NAMESPACE, MISSION, kind)
        consumer = AIOKafkaConsumer(
            name,  # no group: every partition is assigned to this consumer
            bootstrap_servers=self.conn.kafka_bootstrap_servers,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            for _ in range(150):  # the assignment comes with the first metadata (≤ 30 s)
                if consumer.assignment():
                    break
                await consumer.getmany(timeout_ms=200)  # read again from the start below
            partitions = sorted(consumer.assignment())
            ends = await consumer.end_offsets(partitions)
            await consumer.seek_to_beginning(*partitions)
            out: list[dict[str, Any]] = []
            while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
                for tp, records in batches.items():
                    out += [orjson.loads(r.value) for r in records if r.offset < ends[tp]]
            return out
        finally:
            await consumer.stop()

    def stored_samples(self) -> dict[tuple[str, int], int]:
        """(satellite, time ns) → seq of every `obc` sample stored in the mission's bucket."""
        text = self.conn.flux_csv(
            f'from(bucket: "{self.bucket}") |> range(start: 0, stop: {FAR_FUTURE}) '
            '|> filter(fn: (r) => r._measurement == "obc" and r._field == "seq") '
            '|> keep(columns: ["_time", "satellite", "_value"])',
            timeout_s=60,
        )
        out = {}
        for row in parse_annotated_csv(text):
            stamp = row["_time"]
            out[(row["satellite"], _ns(stamp))] = int(row["_value"])
        return out

    def telemetry_report(self, produced: list[dict[str, Any]]) -> dict[str, Any]:
        samples = {(m["satellite"], _ns(m["time"])): int(m["seq"]) for m in produced}
        stored: dict[tuple[str, int], int] = {}
        deadline = time.monotonic() + 180
        missing = list(samples)
        while time.monotonic() < deadline:  # the ingest may still be catching up
            stored = self.stored_samples()
            missing = [k for k, seq in samples.items() if stored.get(k) != seq]
            if not missing:
                break
            time.sleep(5)
        per_satellite: dict[str, Any] = {}
        for satellite in self.satellites:
            seqs = [m["seq"] for m in produced if m["satellite"] == satellite]
            ordered = sorted(set(seqs))
            holes = (ordered[-1] - ordered[0] + 1 - len(ordered)) if ordered else 0
            restarts = sum(1 for a, b in itertools.pairwise(seqs) if b < a)
            per_satellite[satellite] = {
                "produced": len(seqs),
                "first_seq": ordered[0] if ordered else None,
                "last_seq": ordered[-1] if ordered else None,
                "seq_holes_on_topic": holes,
                "seq_went_back": restarts,
                "seq_repeated": len(seqs) - len(set(seqs)),
                "not_stored": sum(1 for k in missing if k[0] == satellite),
            }
        return {
            "produced_messages": len(produced),
            "produced_samples": len(samples),
            "stored_of_produced": len(samples) - len(missing),
            "gaps": len(missing),
            "gap_examples": [f"{s} t={t} seq={samples[(s, t)]}" for s, t in missing[:10]],
            "per_satellite": per_satellite,
        }

    def command_report(self, acks: list[dict[str, Any]]) -> dict[str, Any]:
        executed = collections.Counter(a["command_id"] for a in acks if a["state"] == "executed")
        states = collections.Counter(a["state"] for a in acks)
        ours = {cid for ids in self.commands.ids_by_key.values() for cid in ids}
        return {
            "keys_sent": len(self.commands.ids_by_key) + len(self.commands.unaccepted),
            "keys_accepted": len(self.commands.ids_by_key),
            "keys_never_accepted": len(self.commands.unaccepted),
            "http_attempts": self.commands.attempts,
            "failed_attempts": dict(self.commands.failures),
            "keys_with_two_commands": sum(
                1 for ids in self.commands.ids_by_key.values() if len(ids) > 1
            ),
            "commands_executed": sum(1 for cid in ours if executed[cid] >= 1),
            "commands_not_executed": sum(1 for cid in ours if executed[cid] == 0),
            "duplicates_executed": sum(executed[cid] - 1 for cid in ours if executed[cid] > 1),
            "ack_states": dict(states),
        }

    def orphans(self) -> list[str]:
        owners: set[str] = set()
        for plural in ("missions", "satellites"):
            items = self.custom.list_namespaced_custom_object(
                names.GROUP, names.VERSION, NAMESPACE, plural
            )["items"]
            owners |= {item["metadata"]["uid"] for item in items}
        core, apps = k8s.CoreV1Api(self.admin), k8s.AppsV1Api(self.admin)
        rbac = k8s.RbacAuthorizationV1Api(self.admin)
        selector = f"app.kubernetes.io/managed-by={names.MANAGED_BY}"
        listers = {
            "deployments": apps.list_namespaced_deployment,
            "services": core.list_namespaced_service,
            "configmaps": core.list_namespaced_config_map,
            "secrets": core.list_namespaced_secret,
            "serviceaccounts": core.list_namespaced_service_account,
            "roles": rbac.list_namespaced_role,
            "rolebindings": rbac.list_namespaced_role_binding,
        }
        found = []
        self.children = 0
        for kind, lister in listers.items():
            for obj in lister(NAMESPACE, label_selector=selector).items:
                self.children += 1
                refs = obj.metadata.owner_references or []
                if not any(ref.uid in owners for ref in refs):
                    found.append(f"{kind}/{obj.metadata.name}")
        return found

    # -- the run -----------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        load_before = os.getloadavg()
        self.start()
        sender = threading.Thread(target=self.send_commands, name="soak-commands", daemon=True)
        self.t0 = time.monotonic()
        sender.start()
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.chaos()
        chaos_s = time.monotonic() - self.t0
        say("no more kills; converging")
        converge_started = time.monotonic()
        not_ready = self.wait_ready(timeout_s=300)
        deadline = time.monotonic() + 180
        while True:  # and every replica of the mission ready (its readiness probe)
            replicas_not_ready = [k for k, p in self.runner.pod_status().items() if not p.ready]
            if not replicas_not_ready or time.monotonic() > deadline:
                break
            time.sleep(1)
        converged_s = round(time.monotonic() - converge_started, 1)
        time.sleep(3 * COMMAND_EVERY_S)  # the last commands reach the spacecraft
        self.stop_commands.set()
        sender.join(timeout=30)
        time.sleep(10)  # their acks
        produced = asyncio.run(self.read_topic(names.Topic.TELEMETRY))
        acks = asyncio.run(self.read_topic(names.Topic.ACKS))
        telemetry = self.telemetry_report(produced)
        commands = self.command_report(acks)
        orphans = self.orphans()
        pods = {key: s.to_dict() for key, s in self.runner.pod_status().items()}
        return {
            "name": "soak",
            "started": started,
            "minutes_planned": self.minutes,
            "chaos_seconds": round(chaos_s, 1),
            "machine": {**machine(), "load_average_before": load_before},
            "load_average_after": os.getloadavg(),
            "kills": [asdict(k) for k in self.kills],
            "kills_skipped_not_running": dict(self.skipped),
            "recovery": recovery_summary(self.kills),
            "converged": {
                "not_ready": not_ready,
                "replicas_not_ready": replicas_not_ready,
                "seconds_after_last_kill": converged_s,
            },
            "telemetry": telemetry,
            "commands": commands,
            "children": self.children,
            "orphans": orphans,
            "replicas": {
                k: {"ready": p["ready"], "restarts": p["restarts"]} for k, p in pods.items()
            },
        }

    def stop(self) -> None:
        self.stop_commands.set()
        runner = getattr(self, "runner", None)
        if runner is not None:
            runner.stop()
            self.runner_thread.join(timeout=60)
        operator = getattr(self, "operator", None)
        if operator is not None:
            operator.stop()
        self.stack.stop()


def _ns(stamp: str) -> int:
    """RFC 3339 with up to 9 fractional digits → ns since the epoch (exact)."""
    head, _, rest = stamp.rstrip("Z").partition(".")
    seconds = int(dt.datetime.fromisoformat(head).replace(tzinfo=dt.UTC).timestamp())
    return seconds * 1_000_000_000 + int((rest or "0").ljust(9, "0")[:9])


def recovery_summary(kills: list[Kill]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for target in TARGETS:
        mine = [k for k in kills if k.target == target]
        ready = [k.ready_s for k in mine if k.ready_s is not None]
        flowing = [k.flowing_s for k in mine if k.flowing_s is not None]
        out[target] = {
            "kills": len(mine),
            "ready_median_s": round(statistics.median(ready), 1) if ready else None,
            "ready_max_s": max(ready) if ready else None,
            "flowing_median_s": round(statistics.median(flowing), 1) if flowing else None,
            "flowing_max_s": max(flowing) if flowing else None,
            "not_recovered": sum(1 for k in mine if k.ready_s is None or k.flowing_s is None),
        }
    return out


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    tel, cmd = result["telemetry"], result["commands"]
    lines = [
        "# Fault soak",
        "",
        "`bench/soak.py`: a mission (3 satellites at 1 Hz, alerts runner) on the dev stack while "
        "its pieces are killed with SIGKILL one at a time (rounds of all seven in random order); "
        "then convergence, telemetry, command and orphan checks (the script's docstring says "
        "how each is defined).",
        "",
        f"Commit {m['commit']}, started {result['started']}. Machine: {m['cpus']} CPUs, load "
        f"average (1 min) {m['load_average_before'][0]:.2f} before and "
        f"{result['load_average_after'][0]:.2f} after (the machine is shared). "
        f"Kills for {result['chaos_seconds']:.0f} s (planned {result['minutes_planned']} min).",
        "",
        "## Results",
        "",
        "| Check | Result |",
        "| --- | --- |",
        f"| telemetry samples produced (on the topic) | {tel['produced_samples']} |",
        f"| of them stored (same satellite, time and seq) | {tel['stored_of_produced']} |",
        f"| gaps (produced, not stored) | {tel['gaps']} |",
        f"| commands sent (Idempotency-Keys) / accepted | {cmd['keys_sent']} / "
        f"{cmd['keys_accepted']} |",
        f"| commands executed / not executed | {cmd['commands_executed']} / "
        f"{cmd['commands_not_executed']} |",
        f"| duplicate executions | {cmd['duplicates_executed']} |",
        f"| keys that created two commands | {cmd['keys_with_two_commands']} |",
        f"| resources not Ready after the last kill | {len(result['converged']['not_ready'])} "
        f"(converged in {result['converged']['seconds_after_last_kill']} s) |",
        f"| replicas not ready after the last kill | "
        f"{len(result['converged']['replicas_not_ready'])} |",
        f"| orphan child objects (of {result['children']}) | {len(result['orphans'])} |",
        "",
        "Per satellite (sequence numbers as they are on the telemetry topic):",
        "",
        "| Satellite | produced | seq range | holes | went back | repeated | not stored |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for sat, s in tel["per_satellite"].items():
        lines.append(
            f"| {sat} | {s['produced']} | {s['first_seq']}–{s['last_seq']} | "
            f"{s['seq_holes_on_topic']} | {s['seq_went_back']} | {s['seq_repeated']} | "
            f"{s['not_stored']} |"
        )
    lines += [
        "",
        "## Recovery per kill",
        "",
        "Seconds from the kill. `ready`: the component answers its readiness again; `flowing`: "
        "telemetry stamped after the kill is stored for every satellite, checked once the "
        "component is ready (so never less than `ready`; for the alerts runner, the command API "
        "and the operator, telemetry does not depend on them and `flowing` follows `ready`).",
        "",
        "| Target | kills | ready median | ready max | flowing median | flowing max "
        "| not recovered |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for target, r in result["recovery"].items():
        lines.append(
            f"| {target} | {r['kills']} | {r['ready_median_s']} | {r['ready_max_s']} | "
            f"{r['flowing_median_s']} | {r['flowing_max_s']} | {r['not_recovered']} |"
        )
    if result["kills_skipped_not_running"]:
        lines += [
            "",
            "Draws whose replica was not running (in crash back-off), so nothing was killed: "
            f"{result['kills_skipped_not_running']}.",
        ]
    lines += ["", "Every kill, in order (None: not within 180 s):", ""]
    lines += [
        "| t (s) | target | ready (s) | flowing (s) | note |",
        "| --- | --- | --- | --- | --- |",
    ]
    for k in result["kills"]:
        lines.append(
            f"| {k['at_s']} | {k['detail']} | {k['ready_s']} | {k['flowing_s']} | {k['note']} |"
        )
    if cmd["failed_attempts"]:
        lines += [
            "",
            f"Failed command requests, retried with the same key: {cmd['failed_attempts']}.",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--markdown-from", type=Path, help="only rewrite the .md beside this results JSON"
    )
    args = parser.parse_args()
    if args.markdown_from:
        result = json.loads(args.markdown_from.read_text())
        args.markdown_from.with_suffix(".md").write_text(markdown(result))
        return
    soak = Soak(Path(tempfile.mkdtemp(prefix="mpcs-soak-")), minutes=args.minutes, seed=args.seed)
    try:
        result = soak.run()
    finally:
        soak.stop()
    name = "soak" if args.minutes == 10 else "soak_short"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
