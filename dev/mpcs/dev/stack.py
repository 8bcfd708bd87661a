"""The dev stack: every real server MPCS talks to, on loopback, started and stopped as one.

Used by the pytest fixtures (one stack per test run, owned by the pytest process) and by
`mpcs dev up/down/status` (a detached stack recorded in a state file so `down` can find it).
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from mpcs.dev.process import pid_alive, stop_group, tail
from mpcs.dev.servers import (
    ControllerManager,
    Etcd,
    InfluxDB,
    Kafka,
    KubeApiserver,
    Moto,
    Prometheus,
    Server,
)

STATE_FILE = "state.json"

#: What alerts use on the dev stack's moto: a FIFO topic (SNS drops a transition published twice,
#: as a crash between publishing and clearing the pending marker can do) and one shared table.
ALERTS_TOPIC = "mpcs-alerts.fifo"
ALERTS_TABLE = "mpcs-alerts"
#: The S3 bucket of the telemetry archive and payload products (docs/archive.md).
ARCHIVE_BUCKET = "mpcs-archive"
AWS_REGION = "us-east-1"
#: moto accepts any credentials; these are what the dev stack's clients present.
AWS_TEST_KEY = "testing"


def _say(message: str) -> None:
    print(f"[dev-stack] {message}", flush=True)


@dataclass
class ConnectionInfo:
    """How a client reaches each server; also what `mpcs dev up` prints."""

    kubeconfig: str
    kube_url: str
    kafka_bootstrap_servers: str
    influx_url: str
    influx_org: str
    influx_token: str
    moto_endpoint_url: str
    prometheus_url: str
    #: Where a process announces its /metrics port to Prometheus (`servers.ScrapeTargets`).
    prometheus_targets_dir: str

    def as_env(self) -> dict[str, str]:
        """The `MPCS_*`/client variables a component or a shell needs to use this stack."""
        return {
            "KUBECONFIG": self.kubeconfig,
            "MPCS_KAFKA_BOOTSTRAP": self.kafka_bootstrap_servers,
            "MPCS_INFLUX_URL": self.influx_url,
            "MPCS_INFLUX_ORG": self.influx_org,
            "MPCS_INFLUX_TOKEN": self.influx_token,
            "AWS_ENDPOINT_URL": self.moto_endpoint_url,
            "AWS_DEFAULT_REGION": AWS_REGION,
            "AWS_ACCESS_KEY_ID": AWS_TEST_KEY,
            "AWS_SECRET_ACCESS_KEY": AWS_TEST_KEY,
        }

    def flux_csv(self, query: str, *, timeout_s: float = 10.0) -> str:
        """The annotated CSV InfluxDB answers to a Flux `query` (blocking: the demo, the tests)."""
        response = httpx.post(
            f"{self.influx_url}/api/v2/query",
            params={"org": self.influx_org},
            headers={
                "Authorization": f"Token {self.influx_token}",
                "Content-Type": "application/vnd.flux",
                "Accept": "application/csv",
            },
            content=query,
            timeout=timeout_s,
        )
        response.raise_for_status()
        return response.text


@dataclass(frozen=True)
class AlertsAws:
    """The alerts topic and table and the archive bucket created on moto, and the operator
    settings that name them."""

    endpoint_url: str
    region: str
    topic_arn: str
    table: str
    archive_bucket: str

    def operator_env(self) -> dict[str, str]:
        """The operator's MPCS_* variables (docs/operator.md#settings) for these."""
        return {
            "MPCS_AWS_ENDPOINT_URL": self.endpoint_url,
            "MPCS_AWS_REGION": self.region,
            "MPCS_AWS_ACCESS_KEY_ID": AWS_TEST_KEY,
            "MPCS_AWS_SECRET_ACCESS_KEY": AWS_TEST_KEY,
            "MPCS_ALERTS_TOPIC_ARN": self.topic_arn,
            "MPCS_ALERTS_TABLE": self.table,
            "MPCS_ARCHIVE_BUCKET": self.archive_bucket,
        }


def provision_alerts(endpoint_url: str) -> AlertsAws:
    """Create the alerts topic and table and the archive bucket on moto unless they exist."""
    import boto3

    from mpcs.kit.alerts_table import ensure_table

    kwargs: dict[str, Any] = {
        "endpoint_url": endpoint_url,
        "region_name": AWS_REGION,
        "aws_access_key_id": AWS_TEST_KEY,
        "aws_secret_access_key": AWS_TEST_KEY,
    }
    topic = boto3.client("sns", **kwargs).create_topic(
        Name=ALERTS_TOPIC,
        Attributes={"FifoTopic": "true", "ContentBasedDeduplication": "false"},
    )
    ensure_table(boto3.client("dynamodb", **kwargs), ALERTS_TABLE)
    s3 = boto3.client("s3", **kwargs)
    if ARCHIVE_BUCKET not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=ARCHIVE_BUCKET)
    return AlertsAws(
        endpoint_url=endpoint_url,
        region=AWS_REGION,
        topic_arn=str(topic["TopicArn"]),
        table=ALERTS_TABLE,
        archive_bucket=ARCHIVE_BUCKET,
    )


class DevStack:
    """etcd + kube-apiserver + kube-controller-manager + Kafka + InfluxDB 2 + moto + Prometheus."""

    def __init__(self, root: Path, *, die_with_parent: bool) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        common: dict[str, Any] = {"root": root, "die_with_parent": die_with_parent}
        self.etcd = Etcd("etcd", **common)
        self.apiserver = KubeApiserver("kube-apiserver", **common)
        self.controller_manager = ControllerManager("kube-controller-manager", **common)
        self.kafka = Kafka("kafka", **common)
        self.influx = InfluxDB("influxdb", **common)
        self.moto = Moto("moto", **common)
        self.prometheus = Prometheus("prometheus", **common)
        self.start_seconds: dict[str, float] = {}

    @property
    def servers(self) -> list[Server]:
        return [
            self.etcd,
            self.apiserver,
            self.controller_manager,
            self.kafka,
            self.influx,
            self.moto,
            self.prometheus,
        ]

    def start(self) -> ConnectionInfo:
        """Start everything; independent servers start side by side. Stops all on failure."""
        started = time.monotonic()
        try:
            self._start_all()
        except BaseException:
            self.stop()
            raise
        self.start_seconds["total"] = round(time.monotonic() - started, 1)
        _say(f"all servers ready in {self.start_seconds['total']:.1f} s")
        return self.connection_info()

    def _start_all(self) -> None:
        # Every server is spawned from this (the calling) thread: the kernel's parent-death signal
        # fires when the spawning *thread* ends, so a worker thread must never spawn one.
        self.apiserver.prepare()
        self.kafka.prepare()
        self.prometheus.prepare()
        independent = (self.kafka, self.influx, self.moto, self.prometheus)
        for server in (self.etcd, *independent):
            _say(f"starting {server.name}")
            server.start()
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(independent)) as pool:
            waits = [pool.submit(self._wait, s) for s in independent]
            self._start_control_plane()
            for future in waits:
                future.result()

    def _wait(self, server: Server) -> None:
        seconds = server.wait_ready()
        self.start_seconds[server.name] = round(seconds, 1)
        _say(f"{server.name} ready ({seconds:.1f} s)")

    def _start_control_plane(self) -> None:
        self._wait(self.etcd)
        self.apiserver.etcd_url = self.etcd.url
        _say("starting kube-apiserver")
        self.apiserver.start()
        self._wait(self.apiserver)
        self.controller_manager.apiserver = self.apiserver
        _say("starting kube-controller-manager")
        self.controller_manager.start()
        self._wait(self.controller_manager)

    def stop(self) -> None:
        """Stop in reverse dependency order; safe to call twice."""
        for server in reversed(self.servers):
            server.stop()

    def connection_info(self) -> ConnectionInfo:
        return ConnectionInfo(
            kubeconfig=str(self.apiserver.kubeconfig),
            kube_url=self.apiserver.url,
            kafka_bootstrap_servers=self.kafka.bootstrap_servers,
            influx_url=self.influx.url,
            influx_org=self.influx.org,
            influx_token=self.influx.token,
            moto_endpoint_url=self.moto.url,
            prometheus_url=self.prometheus.url,
            prometheus_targets_dir=str(self.prometheus.targets_dir),
        )

    def log_tails(self, names: list[str] | None = None, lines: int = 30) -> dict[str, str]:
        """Tails of the servers' logs, for a failing test's report."""
        return {
            s.name: tail(s.log_path, lines)
            for s in self.servers
            if names is None or s.name in names
        }

    def memory_mb(self) -> dict[str, float]:
        """Resident memory of each server including its children."""
        return {s.name: _rss_mb(s.pid) for s in self.servers if s.pid is not None}

    def save_state(self) -> Path:
        state = {
            "pids": {s.name: s.pid for s in self.servers},
            "logs": {s.name: str(s.log_path) for s in self.servers},
            "connection": self.connection_info().__dict__,
            "start_seconds": self.start_seconds,
        }
        path = self.root / STATE_FILE
        path.write_text(json.dumps(state, indent=2))
        return path


def _rss_mb(pid: int) -> float:
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
        rss_bytes: int = sum(p.memory_info().rss for p in procs)
        return round(rss_bytes / 1e6, 1)
    except psutil.NoSuchProcess:
        return 0.0


def load_state(root: Path) -> dict[str, Any] | None:
    path = root / STATE_FILE
    return json.loads(path.read_text()) if path.exists() else None


def stop_from_state(root: Path) -> list[str]:
    """Stop a detached stack recorded by `save_state`; returns the names it stopped."""
    state = load_state(root)
    if state is None:
        return []
    stopped = []
    for name, pid in reversed(list(state["pids"].items())):
        if pid and pid_alive(pid):
            stop_group(pid)
            stopped.append(name)
    (root / STATE_FILE).unlink()
    return stopped


def status_from_state(root: Path) -> dict[str, Any] | None:
    state = load_state(root)
    if state is None:
        return None
    state["alive"] = {n: bool(p and pid_alive(p)) for n, p in state["pids"].items()}
    state["rss_mb"] = {n: _rss_mb(p) for n, p in state["pids"].items() if p and pid_alive(p)}
    return state


def default_root() -> Path:
    """Where `mpcs dev up` keeps its detached stack (inside the checkout, ignored by git)."""
    from mpcs.dev.tools import REPO_ROOT

    return Path(os.environ.get("MPCS_DEV_STACK_DIR", REPO_ROOT / ".cache" / "devstack"))
