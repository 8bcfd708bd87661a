"""A kubelet stand-in for machines without one: runs MPCS's own Deployments as local processes.

The operator creates Deployments of the one MPCS image (`command: [mpcs]`, different `args`). On a
laptop or in the end-to-end tests there is no kubelet to run them, so this runner watches those
Deployments and runs each replica as `python -m mpcs.cli <args>` with the container's env —
`secretKeyRef`/`configMapKeyRef` resolved from the apiserver — restarts a replica that crashes
(with backoff), restarts all replicas when the pod template changes, and stops them when their
Deployment goes away or scales to zero. Ports the container would own (`--port`, MPCS_METRICS_PORT)
are remapped to free loopback ports, recorded in `endpoints`. Given a `targets_dir`, it announces
each replica's metrics port to the dev stack's Prometheus (file discovery) with the labels a
cluster's scrape config would give the pod: namespace, mission and component.

It is a development tool: product code never imports it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from mpcs.core.names import GROUP, MANAGED_BY
from mpcs.dev.process import free_port, spawn, stop_group
from mpcs.dev.servers import ScrapeTargets

log = logging.getLogger("mpcs.dev.runner")

SELECTOR = f"app.kubernetes.io/managed-by={MANAGED_BY}"
_MAX_BACKOFF_S = 30.0
#: Pod labels that become the scrape labels `component` and `mission` (names.PROMETHEUS_LABELS).
COMPONENT_LABEL = "app.kubernetes.io/component"
MISSION_LABEL = f"{GROUP}/mission"


def scrape_labels(namespace: str, pod_labels: Mapping[str, str]) -> dict[str, str]:
    """The Prometheus labels of a replica, from its pod template's labels.

    A pod label that is absent leaves its scrape label out rather than empty: an empty label
    value is no label at all to Prometheus, and a mission-less pod has no mission.

    >>> scrape_labels("ops", {COMPONENT_LABEL: "ingest", MISSION_LABEL: "wildfire"})
    {'namespace': 'ops', 'component': 'ingest', 'mission': 'wildfire'}
    """
    labels = {"namespace": namespace}
    if pod_labels.get(COMPONENT_LABEL):
        labels["component"] = pod_labels[COMPONENT_LABEL]
    if pod_labels.get(MISSION_LABEL):
        labels["mission"] = pod_labels[MISSION_LABEL]
    return labels


@dataclass
class Replica:
    """One local process standing in for one pod."""

    key: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    template_hash: str
    ports: dict[str, int]
    #: Where to announce the metrics port (None: no Prometheus is told), and with which labels.
    scrape: ScrapeTargets | None = None
    scrape_labels: dict[str, str] = field(default_factory=dict)
    proc: Any = None
    restarts: int = 0
    next_start: float = 0.0

    def start(self) -> None:
        self.proc = spawn(self.argv, log=self.log_path, env=self.env, die_with_parent=True)
        if self.scrape is not None and "metrics" in self.ports:
            # Kept through crash restarts (same port), as a pod's target outlives its restarts.
            self.scrape.publish(self.key, port=self.ports["metrics"], labels=self.scrape_labels)

    def stop(self) -> None:
        if self.scrape is not None:
            self.scrape.withdraw(self.key)
        if self.proc is not None:
            stop_group(self.proc.pid, proc=self.proc, timeout_s=10)
            self.proc = None


@dataclass
class LocalRunner:
    """Reconciles local processes against the operator's Deployments every `interval_s`."""

    api: ApiClient
    kubeconfig: Path
    log_dir: Path
    interval_s: float = 1.0
    extra_env: dict[str, str] = field(default_factory=dict)
    #: The dev stack's Prometheus file-discovery directory; None announces nothing.
    targets_dir: Path | None = None
    replicas: dict[str, Replica] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.apps = k8s.AppsV1Api(self.api)
        self.core = k8s.CoreV1Api(self.api)

    # -- the loop ---------------------------------------------------------------------------------

    def run_forever(self) -> None:
        """Reconcile until `stop()`; every replica is stopped on the way out."""
        try:
            while not self._stop.is_set():
                try:
                    self.reconcile_once()
                except ApiException as exc:
                    log.warning("listing Deployments failed: %s", exc.reason)
                self._stop.wait(self.interval_s)
        finally:
            with self._lock:
                for replica in self.replicas.values():
                    replica.stop()
                self.replicas.clear()

    def start_in_thread(self) -> threading.Thread:
        # Replicas die with the thread that spawned them (parent-death signal); keep it alive.
        thread = threading.Thread(target=self.run_forever, name="mpcs-local-runner", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()

    def reconcile_once(self) -> None:
        deployments: list[Any] = self.apps.list_deployment_for_all_namespaces(
            label_selector=SELECTOR
        ).items
        wanted: dict[str, tuple[Any, int]] = {}
        for deployment in deployments:
            if deployment.metadata.deletion_timestamp:
                continue
            for index in range(deployment.spec.replicas or 0):
                key = f"{deployment.metadata.namespace}/{deployment.metadata.name}/{index}"
                wanted[key] = (deployment, index)
        with self._lock:
            for key in sorted(set(self.replicas) - set(wanted)):
                log.info("stopping %s (Deployment gone or scaled down)", key)
                self.replicas.pop(key).stop()
            for key, (deployment, _index) in wanted.items():
                self._converge(key, deployment)

    def _converge(self, key: str, deployment: Any) -> None:
        template: dict[str, Any] = self.api.sanitize_for_serialization(  # type: ignore[no-untyped-call]
            deployment.spec.template
        )
        template_hash = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
        replica = self.replicas.get(key)
        if replica is not None and replica.template_hash != template_hash:
            log.info("restarting %s (pod template changed)", key)
            replica.stop()
            replica = None
        if replica is None:
            try:
                replica = self._replica(key, deployment, template, template_hash)
            except (KeyError, ApiException) as exc:  # a referenced Secret/ConfigMap not there yet
                log.info("waiting to start %s: %s", key, exc)
                return
            self.replicas[key] = replica
            replica.start()
            return
        if replica.proc is not None and replica.proc.poll() is not None:
            code = replica.proc.returncode
            replica.proc = None
            replica.restarts += 1
            backoff = min(_MAX_BACKOFF_S, 2.0 ** min(replica.restarts, 5))
            replica.next_start = time.monotonic() + backoff
            log.warning(
                "%s exited with %s; restart %d in %.0f s", key, code, replica.restarts, backoff
            )
        if replica.proc is None and time.monotonic() >= replica.next_start:
            replica.start()

    # -- pod template → local process -------------------------------------------------------------

    def _replica(
        self, key: str, deployment: Any, template: dict[str, Any], template_hash: str
    ) -> Replica:
        namespace = deployment.metadata.namespace
        container = template["spec"]["containers"][0]
        env = {"KUBECONFIG": str(self.kubeconfig), **self.extra_env}
        for var in container.get("env", []):
            env[var["name"]] = self._env_value(namespace, var)
        ports: dict[str, int] = {}
        if "MPCS_METRICS_PORT" in env:
            ports["metrics"] = free_port()
            env["MPCS_METRICS_PORT"] = str(ports["metrics"])
        args = list(container.get("args", []))
        if "--port" in args:
            ports["http"] = free_port()
            args[args.index("--port") + 1] = str(ports["http"])
        if container.get("command") != ["mpcs"]:
            raise KeyError(f"{key}: only the MPCS image (command [mpcs]) runs locally")
        safe = key.replace("/", "_")
        return Replica(
            key=key,
            argv=[sys.executable, "-m", "mpcs.cli", *args],
            env=env,
            log_path=self.log_dir / f"{safe}.log",
            template_hash=template_hash,
            ports=ports,
            scrape=ScrapeTargets(self.targets_dir) if self.targets_dir is not None else None,
            scrape_labels=scrape_labels(
                namespace, (template.get("metadata") or {}).get("labels") or {}
            ),
        )

    def _env_value(self, namespace: str, var: dict[str, Any]) -> str:
        if "value" in var:
            return str(var["value"])
        source = var.get("valueFrom") or {}
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            secret = self.core.read_namespaced_secret(ref["name"], namespace)
            return base64.b64decode((secret.data or {})[ref["key"]]).decode()
        if "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            config_map = self.core.read_namespaced_config_map(ref["name"], namespace)
            return str((config_map.data or {})[ref["key"]])
        raise KeyError(f"env {var['name']}: unsupported source {sorted(source)}")

    def endpoints(self) -> dict[str, dict[str, int]]:
        """Local ports of each running replica, e.g. the command API's `http` port."""
        with self._lock:
            return {key: dict(r.ports) for key, r in self.replicas.items() if r.proc is not None}
