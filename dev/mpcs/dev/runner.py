"""A kubelet stand-in for machines without one: runs MPCS's own Deployments as local processes.

The operator creates Deployments of the one MPCS image (`command: [mpcs]`, different `args`). On a
laptop or in the end-to-end tests there is no kubelet to run them, so this runner watches those
Deployments (`selector`, by default the MPCS-managed ones) and runs each replica as
`python -m mpcs.cli <args>` the way a kubelet would run its pod:

- as the pod's ServiceAccount (`serviceAccountName`, else `default`): a TokenRequest on the
  apiserver, written to a per-replica token file that the replica's own kubeconfig (server and CA
  of the dev apiserver, no client certificate) names, given as KUBECONFIG — never the admin's.
  The token is renewed before it expires (`TokenPolicy`); a missing ServiceAccount leaves the
  replica waiting (ServiceAccountNotFound), retried every pass;
- with the container's env — `secretKeyRef`/`configMapKeyRef` resolved from the apiserver, a few
  `fieldRef`s — restarting a replica that crashes (with backoff), all replicas when the pod
  template changes, and stopping them when their Deployment goes away or scales to zero;
- with its `secret` volumes as files (a folder per volume, each key a file; an env value naming
  the mount path is rewritten to the folder), re-synced every pass as a kubelet does, so an
  updated Secret (a rotated token) reaches the running process without a restart;
- with its readiness and liveness probes (httpGet or tcpSocket, Kubernetes' defaults): a failing
  liveness probe restarts the replica (counted), a failing readiness probe marks it not ready.

Ports the container would own (`--port`, MPCS_METRICS_PORT) are remapped to free loopback ports,
recorded in `endpoints`; probes follow the remapping. `pod_status()` reports each replica like a
Pod (phase, ready, restarts, last state); every change is logged as one JSON line and written to
`<log_dir>/pods.json`. Given a `targets_dir`, it announces each replica's metrics port to the dev
stack's Prometheus (file discovery) with the labels a cluster's scrape config would give the pod:
namespace, mission and component.

It is a development tool: product code never imports it.
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import os
import socket
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from mpcs.core.names import GROUP, MANAGED_BY
from mpcs.dev.cluster import TOKEN_AUDIENCE
from mpcs.dev.pods import (
    DEFAULT_SERVICE_ACCOUNT,
    Phase,
    PodStatus,
    ProbeEvent,
    ProbeSpec,
    ProbeState,
    TokenPolicy,
    container_port,
    service_account_user,
    token_kubeconfig,
)
from mpcs.dev.process import free_port, spawn, stop_group
from mpcs.dev.servers import ScrapeTargets

log = logging.getLogger("mpcs.dev.runner")

#: The Deployments run by default: the operator's children (`LocalRunner.selector`).
SELECTOR = f"app.kubernetes.io/managed-by={MANAGED_BY}"
#: How the image's entrypoint (`mpcs`) runs as a local process.
ENTRYPOINT = (sys.executable, "-m", "mpcs.cli")
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


def _write_atomically(path: Path, text: str | bytes, *, mode: int = 0o600) -> None:
    """Replace `path` whole: a reader (a process loading its token) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb" if isinstance(text, bytes) else "w") as out:
            out.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def probe_once(spec: ProbeSpec, port: int) -> tuple[bool, str]:
    """One probe of a local process: (succeeded, why not); 2xx and 3xx succeed, as in a kubelet."""
    if spec.path is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=spec.timeout_s):
                return True, ""
        except OSError as exc:
            return False, f"dial tcp 127.0.0.1:{port}: {exc}"
    url = f"http://127.0.0.1:{port}{spec.path}"
    try:
        with urllib.request.urlopen(url, timeout=spec.timeout_s) as resp:
            status = int(resp.status)
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (OSError, ValueError) as exc:
        return False, f"Get {url}: {exc}"
    if 200 <= status < 400:
        return True, ""
    return False, f"HTTP probe failed with statuscode: {status}"


class UnsupportedPod(ValueError):
    """A pod template this runner can never run (another image); reported as Failed."""


@dataclass
class PodToken:
    """The ServiceAccount token of one replica, on disk where its kubeconfig points."""

    token_path: Path
    kubeconfig_path: Path
    #: Wall-clock seconds (time.time()): when it was issued, when the apiserver says it expires.
    issued_at: float = 0.0
    expires_at: float = 0.0


@dataclass
class SecretVolume:
    """A pod's `secret` volume, materialised as a folder of files (one per key)."""

    secret: str
    path: Path
    optional: bool = False


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
    namespace: str = ""
    service_account: str = DEFAULT_SERVICE_ACCOUNT
    #: Container port number → the loopback port the local process was given instead.
    port_map: dict[int, int] = field(default_factory=dict)
    liveness: ProbeSpec | None = None
    readiness: ProbeSpec | None = None
    token: PodToken | None = None
    #: When the token the running process loaded expires (wall clock); 0 without a token.
    process_token_expires_at: float = 0.0
    process_token_issued_at: float = 0.0
    #: The container's `ports` (named ports of its probes).
    container_ports: list[dict[str, Any]] = field(default_factory=list)
    live: ProbeState | None = None
    ready: ProbeState | None = None
    status: PodStatus | None = None
    secret_volumes: list[SecretVolume] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.status is None:
            self.status = PodStatus(key=self.key, service_account=self.service_account)

    def start(self) -> None:
        self.proc = spawn(self.argv, log=self.log_path, env=self.env, die_with_parent=True)
        now = time.monotonic()
        self.live = (
            ProbeState.started(self.liveness, at=now, healthy=True) if self.liveness else None
        )
        self.ready = (
            ProbeState.started(self.readiness, at=now, healthy=False) if self.readiness else None
        )
        if self.token is not None:
            self.process_token_issued_at = self.token.issued_at
            self.process_token_expires_at = self.token.expires_at
        assert self.status is not None
        self.status.running(self.proc.pid)
        self.status.ready = self.readiness is None
        if self.scrape is not None and "metrics" in self.ports:
            # Kept through crash restarts (same port), as a pod's target outlives its restarts.
            self.scrape.publish(self.key, port=self.ports["metrics"], labels=self.scrape_labels)

    def kill(self) -> None:
        """End the process (the scrape target stays: the pod is still there)."""
        if self.proc is not None:
            stop_group(self.proc.pid, proc=self.proc, timeout_s=10)
            self.proc = None
        self.live = self.ready = None

    def stop(self) -> None:
        if self.scrape is not None:
            self.scrape.withdraw(self.key)
        self.kill()

    def probe_port(self, spec: ProbeSpec) -> int:
        """The loopback port a probe asks: its container port, remapped like the process's."""
        number = container_port(spec.port, self.container_ports)
        return self.port_map.get(number, number)


@dataclass
class LocalRunner:
    """Reconciles local processes against Deployments every `interval_s`."""

    api: ApiClient
    #: The dev apiserver's (admin) kubeconfig: only its server URL and CA reach the replicas.
    kubeconfig: Path
    log_dir: Path
    interval_s: float = 1.0
    extra_env: dict[str, str] = field(default_factory=dict)
    #: The dev stack's Prometheus file-discovery directory; None announces nothing.
    targets_dir: Path | None = None
    #: Which Deployments to run (a label selector, all namespaces). The chart's operator
    #: Deployment is one selector away (e.g. `app.kubernetes.io/name=mpcs,
    #: app.kubernetes.io/component=operator`).
    selector: str = SELECTOR
    #: How the image's entrypoint runs locally; a container's `command` must be `[mpcs]` or
    #: absent (the image's entrypoint).
    entrypoint: Sequence[str] = ENTRYPOINT
    token_policy: TokenPolicy = field(default_factory=TokenPolicy)
    #: Where each replica's token and kubeconfig live; default `<log_dir>/pods`.
    pods_dir: Path | None = None
    replicas: dict[str, Replica] = field(default_factory=dict)
    #: Replicas that could not be built yet (a Secret or ConfigMap missing): key → status.
    waiting: dict[str, PodStatus] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _reported: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.apps = k8s.AppsV1Api(self.api)
        self.core = k8s.CoreV1Api(self.api)
        self._probes = concurrent.futures.ThreadPoolExecutor(
            max_workers=8, thread_name_prefix="mpcs-local-probe"
        )

    # -- the loop ---------------------------------------------------------------------------------

    def run_forever(self) -> None:
        """Reconcile until `stop()`; every replica is stopped on the way out."""
        try:
            while not self._stop.is_set():
                try:
                    self.reconcile_once()
                except ApiException as exc:
                    log.warning("listing Deployments failed: %s", exc.reason)
                self.probe_once()
                self._report()
                self._stop.wait(self.interval_s)
        finally:
            with self._lock:
                for replica in self.replicas.values():
                    replica.stop()
                self.replicas.clear()
            self._probes.shutdown(wait=False, cancel_futures=True)

    def start_in_thread(self) -> threading.Thread:
        # Replicas die with the thread that spawned them (parent-death signal); keep it alive.
        thread = threading.Thread(target=self.run_forever, name="mpcs-local-runner", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()

    @contextlib.contextmanager
    def running(self, *, join_timeout_s: float = 60.0) -> Iterator[LocalRunner]:
        """Run in a thread for the `with` block; stop the replicas and the thread on the way out."""
        thread = self.start_in_thread()
        try:
            yield self
        finally:
            self.stop()
            thread.join(timeout=join_timeout_s)

    def reconcile_once(self) -> None:
        deployments: list[Any] = self.apps.list_deployment_for_all_namespaces(
            label_selector=self.selector
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
            for key in set(self.waiting) - set(wanted):
                del self.waiting[key]
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
            del self.replicas[key]
            replica = None
        if replica is None:
            try:
                replica = self._replica(key, deployment, template, template_hash)
            except (KeyError, ApiException, UnsupportedPod) as exc:
                # A referenced Secret/ConfigMap (or key) not there yet; retried every pass.
                unsupported = isinstance(exc, UnsupportedPod)
                reason = "Unsupported" if unsupported else "CreateContainerConfigError"
                status = self.waiting.setdefault(
                    key,
                    PodStatus(
                        key=key,
                        service_account=(template.get("spec") or {}).get("serviceAccountName")
                        or DEFAULT_SERVICE_ACCOUNT,
                    ),
                )
                status.waiting(reason, _reason_of(exc))
                if unsupported:
                    status.phase = Phase.FAILED
                return
            self.waiting.pop(key, None)
            self.replicas[key] = replica
        if replica.proc is not None and replica.proc.poll() is not None:
            code = replica.proc.returncode
            replica.proc = None
            replica.live = replica.ready = None
            replica.restarts += 1
            backoff = _backoff_s(replica.restarts)
            replica.next_start = time.monotonic() + backoff
            assert replica.status is not None
            replica.status.restarts = replica.restarts
            replica.status.terminated(reason="Completed" if code == 0 else "Error", exit_code=code)
            log.warning(
                "%s exited with %s; restart %d in %.0f s", key, code, replica.restarts, backoff
            )
        self._sync_volumes(replica, initial=False)
        if not self._token_current(replica):
            return
        if replica.proc is not None and self._token_restart_due(replica):
            log.info("restarting %s onto its renewed ServiceAccount token", key)
            replica.kill()
            assert replica.status is not None
            replica.status.terminated(reason="TokenRenewal", exit_code=None)
            replica.next_start = 0.0
        if replica.proc is None and time.monotonic() >= replica.next_start:
            replica.start()

    # -- the ServiceAccount token -----------------------------------------------------------------

    def _token_current(self, replica: Replica) -> bool:
        """Request or renew the replica's token when due; False while it has none to start with."""
        assert replica.status is not None
        token = replica.token
        now = time.time()
        if token is not None and now < self.token_policy.renew_at(
            issued_at=token.issued_at, expires_at=token.expires_at
        ):
            return True
        try:
            self._request_token(replica)
        except ApiException as exc:
            if replica.token is not None and now < replica.token.expires_at:
                log.warning(
                    "renewing the token of %s failed (%s); retrying", replica.key, exc.reason
                )
                return True
            reason = "ServiceAccountNotFound" if exc.status == 404 else "TokenRequestFailed"
            message = (
                f'serviceaccount "{replica.service_account}" not found in {replica.namespace}'
                if exc.status == 404
                else f"TokenRequest: {exc.status} {exc.reason}"
            )
            if replica.status.reason != reason:
                log.warning("%s cannot start: %s", replica.key, message)
            replica.status.waiting(reason, message)
            return False
        return True

    def _request_token(self, replica: Replica) -> None:
        request = k8s.AuthenticationV1TokenRequest(
            spec=k8s.V1TokenRequestSpec(
                audiences=[TOKEN_AUDIENCE],
                expiration_seconds=self.token_policy.expiration_s,
            )
        )
        issued_at = time.time()
        granted = self.core.create_namespaced_service_account_token(
            replica.service_account, replica.namespace, request
        )
        if granted.status is None or not granted.status.token:
            raise ApiException(status=500, reason="TokenRequest answered without a token")
        expires: dt.datetime = granted.status.expiration_timestamp or dt.datetime.fromtimestamp(
            issued_at + self.token_policy.expiration_s, dt.UTC
        )
        directory = self._pods_dir() / replica.key.replace("/", "_")
        token = replica.token or PodToken(
            token_path=directory / "token", kubeconfig_path=directory / "kubeconfig"
        )
        _write_atomically(token.token_path, granted.status.token)
        if replica.token is None:
            _write_atomically(
                token.kubeconfig_path,
                json.dumps(
                    token_kubeconfig(
                        server=self._cluster()["server"],
                        cluster=self._cluster(),
                        token_file=token.token_path,
                        user=service_account_user(replica.namespace, replica.service_account),
                    ),
                    indent=2,
                ),
            )
        token.issued_at, token.expires_at = issued_at, expires.timestamp()
        replica.token = token
        replica.env["KUBECONFIG"] = str(token.kubeconfig_path)
        assert replica.status is not None
        replica.status.token_expires_at = expires.isoformat()
        log.info(
            "ServiceAccount token for %s (%s) expires %s",
            replica.key,
            service_account_user(replica.namespace, replica.service_account),
            expires.isoformat(),
        )

    def _token_restart_due(self, replica: Replica) -> bool:
        if not replica.process_token_expires_at or replica.token is None:
            return False
        if replica.token.expires_at <= replica.process_token_expires_at:
            return False  # nothing newer to restart onto yet
        return time.time() >= self.token_policy.restart_at(
            issued_at=replica.process_token_issued_at,
            expires_at=replica.process_token_expires_at,
        )

    def _pods_dir(self) -> Path:
        return self.pods_dir if self.pods_dir is not None else self.log_dir / "pods"

    def _cluster(self) -> dict[str, Any]:
        """The cluster entry of the admin kubeconfig's current context (server URL and CA)."""
        config: dict[str, Any] = yaml.safe_load(self.kubeconfig.read_text())
        current = config.get("current-context")
        contexts = {c["name"]: c["context"] for c in config.get("contexts") or []}
        clusters = {c["name"]: c["cluster"] for c in config.get("clusters") or []}
        name = contexts[current]["cluster"] if current in contexts else next(iter(clusters))
        cluster = dict(clusters[name])
        ca = cluster.get("certificate-authority")
        if ca and not Path(ca).is_absolute():
            cluster["certificate-authority"] = str(self.kubeconfig.parent / ca)
        return cluster

    # -- probes -----------------------------------------------------------------------------------

    def probe_once(self) -> None:
        """Run every probe that is due, side by side; act on the verdicts that change."""
        now = time.monotonic()
        due: list[tuple[Replica, str, ProbeState, int]] = []
        with self._lock:
            for replica in self.replicas.values():
                if replica.proc is None:
                    continue
                for kind, state in (("liveness", replica.live), ("readiness", replica.ready)):
                    if state is not None and state.due(now):
                        due.append((replica, kind, state, replica.probe_port(state.spec)))
        futures = [self._probes.submit(probe_once, state.spec, port) for _, _, state, port in due]
        results = [future.result() for future in futures]
        with self._lock:
            for (replica, kind, state, _port), (ok, message) in zip(due, results, strict=True):
                if self.replicas.get(replica.key) is not replica or replica.proc is None:
                    continue  # stopped or restarted meanwhile: the result is about another life
                if (kind == "liveness" and replica.live is not state) or (
                    kind == "readiness" and replica.ready is not state
                ):
                    continue
                event = state.record(ok, now=time.monotonic(), message=message)
                if kind == "readiness":
                    self._on_readiness(replica, ok=ok, ready=state.healthy, message=message)
                elif event is ProbeEvent.UNHEALTHY:
                    self._on_liveness_failure(replica, message)

    def _on_readiness(self, replica: Replica, *, ok: bool, ready: bool, message: str) -> None:
        """Every failed readiness probe is reported (a kubelet's Unhealthy event), and the
        verdict after `failureThreshold`/`successThreshold` is the replica's `ready`."""
        assert replica.status is not None
        if ready != replica.status.ready:
            log.info("%s %s", replica.key, "ready" if ready else "not ready")
        replica.status.ready = ready
        if ok:
            replica.status.message = ""
            return
        report = f"Readiness probe failed: {message}"
        if report != replica.status.message:
            log.warning("%s: %s", replica.key, report)
        replica.status.message = report

    def _on_liveness_failure(self, replica: Replica, message: str) -> None:
        assert replica.status is not None
        log.warning("%s failed its liveness probe (%s); restarting", replica.key, message)
        proc = replica.proc
        replica.kill()
        code = proc.returncode if proc is not None else None
        replica.restarts += 1
        replica.status.restarts = replica.restarts
        replica.status.terminated(
            reason="Unhealthy", exit_code=code, message=f"Liveness probe failed: {message}"
        )
        replica.next_start = time.monotonic() + _backoff_s(replica.restarts)

    # -- status -----------------------------------------------------------------------------------

    def pod_status(self) -> dict[str, PodStatus]:
        """Every replica this runner knows of, like `kubectl get pods` (copies, by key)."""
        with self._lock:
            found = {
                key: dataclasses.replace(replica.status, last_state=dict(replica.status.last_state))
                for key, replica in self.replicas.items()
                if replica.status is not None
            }
            found.update(
                {
                    key: dataclasses.replace(status, last_state=dict(status.last_state))
                    for key, status in self.waiting.items()
                }
            )
        return dict(sorted(found.items()))

    def _report(self) -> None:
        """Log each change of a replica's status as one JSON line; keep `pods.json` current."""
        now = {key: status.to_dict() for key, status in self.pod_status().items()}
        changed = False
        for key, status in now.items():
            if self._reported.get(key) != status:
                log.info("pod %s", json.dumps(status, sort_keys=True))
                changed = True
        changed = changed or set(self._reported) != set(now)
        self._reported = now
        if changed:
            _write_atomically(
                self.log_dir / "pods.json",
                json.dumps(list(now.values()), indent=2, sort_keys=True),
                mode=0o644,
            )

    # -- pod template → local process -------------------------------------------------------------

    def _replica(
        self, key: str, deployment: Any, template: dict[str, Any], template_hash: str
    ) -> Replica:
        namespace = deployment.metadata.namespace
        pod_spec = template.get("spec") or {}
        container = pod_spec["containers"][0]
        if container.get("command") not in (["mpcs"], None):
            raise UnsupportedPod(
                f"{key}: only the MPCS image (command [mpcs]) runs locally, "
                f"not command {container.get('command')}"
            )
        service_account = pod_spec.get("serviceAccountName") or DEFAULT_SERVICE_ACCOUNT
        pod = {
            "metadata.name": key.replace("/", "-"),
            "metadata.namespace": namespace,
            "spec.serviceAccountName": service_account,
            "status.podIP": "127.0.0.1",
        }
        # KUBECONFIG is the replica's own, set once its token is written; never inherited.
        env = {"KUBECONFIG": "", **self.extra_env}
        for var in container.get("env", []):
            field_ref = (var.get("valueFrom") or {}).get("fieldRef")
            if field_ref is not None:
                env[var["name"]] = pod[field_ref["fieldPath"]]
            else:
                env[var["name"]] = self._env_value(namespace, var)
        volumes = {v["name"]: v for v in pod_spec.get("volumes") or []}
        secret_volumes = []
        for mount in container.get("volumeMounts") or []:
            source = (volumes.get(mount["name"]) or {}).get("secret")
            if source is None:
                continue  # only Secret volumes are materialised locally
            local = self._pods_dir() / key.replace("/", "_") / "volumes" / mount["name"]
            secret_volumes.append(
                SecretVolume(source["secretName"], local, bool(source.get("optional")))
            )
            mounted = mount["mountPath"].rstrip("/")
            for name, value in env.items():
                if value == mounted or value.startswith(mounted + "/"):
                    env[name] = str(local) + value[len(mounted) :]
        ports: dict[str, int] = {}
        port_map: dict[int, int] = {}
        if "MPCS_METRICS_PORT" in env:
            ports["metrics"] = free_port()
            if env["MPCS_METRICS_PORT"].isdigit():
                port_map[int(env["MPCS_METRICS_PORT"])] = ports["metrics"]
            env["MPCS_METRICS_PORT"] = str(ports["metrics"])
        args = list(container.get("args", []))
        if "--port" in args:
            ports["http"] = free_port()
            index = args.index("--port") + 1
            if args[index].isdigit():
                port_map[int(args[index])] = ports["http"]
            args[index] = str(ports["http"])
        safe = key.replace("/", "_")
        replica = Replica(
            key=key,
            argv=[*self.entrypoint, *args],
            env=env,
            log_path=self.log_dir / f"{safe}.log",
            template_hash=template_hash,
            ports=ports,
            scrape=ScrapeTargets(self.targets_dir) if self.targets_dir is not None else None,
            scrape_labels=scrape_labels(
                namespace, (template.get("metadata") or {}).get("labels") or {}
            ),
            namespace=namespace,
            service_account=service_account,
            port_map=port_map,
            container_ports=list(container.get("ports") or []),
            liveness=ProbeSpec.parse(container.get("livenessProbe")),
            readiness=ProbeSpec.parse(container.get("readinessProbe")),
            secret_volumes=secret_volumes,
        )
        self._sync_volumes(replica, initial=True)  # a missing Secret: the replica waits
        for kind in ("livenessProbe", "readinessProbe"):
            if container.get(kind) and ProbeSpec.parse(container[kind]) is None:
                log.warning("%s: its %s is of a kind not run locally; ignored", key, kind)
        return replica

    def _sync_volumes(self, replica: Replica, *, initial: bool) -> None:
        """Write each Secret volume's keys as files, replacing those that changed and removing
        keys gone. At start a missing Secret raises (the replica waits, as a pod would); later
        the files stay as they are until the Secret can be read again."""
        for volume in replica.secret_volumes:
            try:
                secret = self.core.read_namespaced_secret(volume.secret, replica.namespace)
            except ApiException as exc:
                if exc.status == 404 and volume.optional:
                    data: dict[str, str] = {}
                elif initial:
                    raise
                else:
                    continue
            else:
                data = {str(k): str(v) for k, v in (secret.data or {}).items()}
            volume.path.mkdir(parents=True, exist_ok=True)
            for name, encoded in data.items():
                value = base64.b64decode(encoded)
                target = volume.path / name
                if not target.exists() or target.read_bytes() != value:
                    _write_atomically(target, value)
            for stale in volume.path.iterdir():
                if stale.name not in data and not stale.name.startswith("."):
                    stale.unlink(missing_ok=True)

    def _env_value(self, namespace: str, var: dict[str, Any]) -> str:
        source = var.get("valueFrom") or {}
        if not source:
            # The apiserver drops an empty `value`; a kubelet sets such a variable to "".
            return str(var.get("value") or "")
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


def _reason_of(exc: Exception) -> str:
    if isinstance(exc, ApiException):
        return f"{exc.status} {exc.reason}"
    return str(exc.args[0]) if exc.args else str(exc)


def _backoff_s(restarts: int) -> float:
    """Seconds before restart number `restarts` (doubling, capped like CrashLoopBackOff).

    >>> [_backoff_s(n) for n in (1, 2, 5, 9)]
    [2.0, 4.0, 30.0, 30.0]
    """
    return min(_MAX_BACKOFF_S, 2.0 ** min(restarts, 5))
