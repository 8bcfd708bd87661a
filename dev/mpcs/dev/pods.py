"""What a kubelet would decide for a pod, as pure functions the local runner (`runner.py`) calls.

The runner does the I/O (processes, TokenRequests, HTTP probes); this module holds the rules it
follows, so they are unit-tested without a server or a process: the kubeconfig a replica gets
in place of the projected ServiceAccount token volume, when that token is renewed, how a probe
with Kubernetes' defaults turns results into ready/unhealthy, and the Pod-like status reported
for each replica.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: A pod without `serviceAccountName` runs as this ServiceAccount of its namespace.
DEFAULT_SERVICE_ACCOUNT = "default"


# --- the ServiceAccount token --------------------------------------------------------------------


def token_kubeconfig(
    *, server: str, cluster: Mapping[str, Any], token_file: Path, user: str
) -> dict[str, Any]:
    """A kubeconfig that authenticates with a ServiceAccount token and nothing else.

    `cluster` is the dev apiserver's cluster entry (its `certificate-authority` or
    `-data`); only the CA is taken from it, so no client certificate can leak in. The token is a
    file, as in a pod's projected volume, so renewing it is a rewrite of that file.

    >>> config = token_kubeconfig(
    ...     server="https://127.0.0.1:6443",
    ...     cluster={"certificate-authority": "/pki/ca.crt", "server": "ignored"},
    ...     token_file=Path("/pods/x/token"),
    ...     user="system:serviceaccount:ops:default",
    ... )
    >>> config["users"]
    [{'name': 'system:serviceaccount:ops:default', 'user': {'tokenFile': '/pods/x/token'}}]
    >>> config["clusters"][0]["cluster"]
    {'server': 'https://127.0.0.1:6443', 'certificate-authority': '/pki/ca.crt'}
    """
    entry: dict[str, Any] = {"server": server}
    for key in ("certificate-authority", "certificate-authority-data", "tls-server-name"):
        if key in cluster:
            entry[key] = cluster[key]
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "mpcs-dev", "cluster": entry}],
        "users": [{"name": user, "user": {"tokenFile": str(token_file)}}],
        "contexts": [{"name": "pod", "context": {"cluster": "mpcs-dev", "user": user}}],
        "current-context": "pod",
    }


def service_account_user(namespace: str, service_account: str) -> str:
    """The username the apiserver gives a ServiceAccount's token (what RBAC sees)."""
    return f"system:serviceaccount:{namespace}:{service_account}"


@dataclass(frozen=True)
class TokenPolicy:
    """How long a replica's token lives and when it is renewed.

    The kubelet asks for an hour and rewrites the projected token once 80 % of its life is gone.
    In-cluster clients re-read that file; MPCS's workloads load a kubeconfig once, at start, so a
    process still holding a token close to its expiry is restarted onto the renewed one
    (`restart_margin` of the lifetime before the expiry, which is after the rewrite).
    """

    expiration_s: int = 3600
    renew_fraction: float = 0.8
    restart_margin_fraction: float = 0.1

    def __post_init__(self) -> None:
        if self.expiration_s < 600:
            raise ValueError(
                f"TokenPolicy.expiration_s={self.expiration_s}: the apiserver accepts 600 s or more"
            )
        if not 0 < self.renew_fraction < 1 - self.restart_margin_fraction:
            raise ValueError(
                f"TokenPolicy: renew_fraction={self.renew_fraction} must be above 0 and below "
                f"1 - restart_margin_fraction ({1 - self.restart_margin_fraction}), so a token "
                "is renewed before a process holding it is restarted"
            )

    def renew_at(self, *, issued_at: float, expires_at: float) -> float:
        """When to ask for the next token (same clock as the arguments).

        >>> TokenPolicy().renew_at(issued_at=1000.0, expires_at=4600.0)
        3880.0
        """
        return issued_at + self.renew_fraction * (expires_at - issued_at)

    def restart_at(self, *, issued_at: float, expires_at: float) -> float:
        """When a process that loaded this token must be restarted onto a newer one.

        >>> TokenPolicy().restart_at(issued_at=1000.0, expires_at=4600.0)
        4240.0
        """
        return expires_at - self.restart_margin_fraction * (expires_at - issued_at)


# --- probes --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeSpec:
    """An httpGet or tcpSocket probe with Kubernetes' defaults for what the manifest leaves out."""

    port: int | str
    path: str | None = None  # None: a tcpSocket probe
    initial_delay_s: float = 0.0
    period_s: float = 10.0
    timeout_s: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3

    @classmethod
    def parse(cls, probe: Mapping[str, Any] | None) -> ProbeSpec | None:
        """The probe of a container manifest; None when absent or of a kind run here never
        (exec, grpc), which the caller reports rather than pretends to run.

        >>> spec = ProbeSpec.parse({"httpGet": {"path": "/healthz", "port": "metrics"}})
        >>> spec.port, spec.path, spec.period_s, spec.failure_threshold
        ('metrics', '/healthz', 10.0, 3)
        """
        if not probe:
            return None
        if "httpGet" in probe:
            target = probe["httpGet"]
            path: str | None = str(target.get("path") or "/")
        elif "tcpSocket" in probe:
            target, path = probe["tcpSocket"], None
        else:
            return None
        return cls(
            port=target["port"],
            path=path,
            initial_delay_s=float(probe.get("initialDelaySeconds", 0)),
            period_s=float(probe.get("periodSeconds", 10)),
            timeout_s=float(probe.get("timeoutSeconds", 1)),
            success_threshold=int(probe.get("successThreshold", 1)),
            failure_threshold=int(probe.get("failureThreshold", 3)),
        )


def container_port(port: int | str, container_ports: Sequence[Mapping[str, Any]]) -> int:
    """The container port number a probe names (a name is looked up in the container's ports).

    >>> container_port("metrics", [{"name": "metrics", "containerPort": 9090}])
    9090
    >>> container_port(8000, [])
    8000
    """
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for entry in container_ports:
        if entry.get("name") == port:
            return int(entry["containerPort"])
    known = [entry.get("name") for entry in container_ports]
    raise KeyError(f"probe port {port!r} is not a container port; the container names {known}")


class ProbeEvent(enum.Enum):
    """A change of a probe's verdict (what a kubelet acts on)."""

    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


@dataclass
class ProbeState:
    """Counts consecutive results of one probe of one running process.

    `healthy` starts as the kubelet's initial verdict: True for liveness (a container is alive
    until proven otherwise), False for readiness (not ready until a probe succeeds).
    """

    spec: ProbeSpec
    healthy: bool
    next_at: float
    successes: int = 0
    failures: int = 0
    last_message: str = ""

    @classmethod
    def started(cls, spec: ProbeSpec, *, at: float, healthy: bool) -> ProbeState:
        return cls(spec=spec, healthy=healthy, next_at=at + spec.initial_delay_s)

    def due(self, now: float) -> bool:
        return now >= self.next_at

    def record(self, ok: bool, *, now: float, message: str = "") -> ProbeEvent | None:
        """Take one result; return the verdict change it causes, if any.

        >>> state = ProbeState.started(ProbeSpec(port=1, failure_threshold=2), at=0.0, healthy=True)
        >>> state.record(False, now=0.0), state.record(False, now=10.0)
        (None, <ProbeEvent.UNHEALTHY: 'unhealthy'>)
        """
        self.next_at = now + self.spec.period_s
        self.last_message = message
        if ok:
            self.successes += 1
            self.failures = 0
            if not self.healthy and self.successes >= self.spec.success_threshold:
                self.healthy = True
                return ProbeEvent.HEALTHY
            return None
        self.failures += 1
        self.successes = 0
        if self.healthy and self.failures >= self.spec.failure_threshold:
            self.healthy = False
            return ProbeEvent.UNHEALTHY
        return None


# --- Pod-like status -----------------------------------------------------------------------------


class Phase(enum.StrEnum):
    """A pod's phase, as Kubernetes defines it for restartPolicy Always.

    A container that crashed and waits for its restart leaves its pod Running (its state says
    CrashLoopBackOff); Failed is for a replica this runner will never start.
    """

    PENDING = "Pending"
    RUNNING = "Running"
    FAILED = "Failed"


@dataclass
class PodStatus:
    """What `kubectl get pod -o yaml` would show of one replica, in this runner's words."""

    key: str
    service_account: str
    phase: Phase = Phase.PENDING
    ready: bool = False
    restarts: int = 0
    #: The container's state: reason of waiting (ContainerCreating, ServiceAccountNotFound,
    #: CreateContainerConfigError, CrashLoopBackOff) or "Running".
    reason: str = "ContainerCreating"
    message: str = ""
    #: How the previous process ended: reason (Error, Completed, Unhealthy, TokenRenewal),
    #: exit code and message; empty before the first restart.
    last_state: dict[str, Any] = field(default_factory=dict)
    pid: int | None = None
    token_expires_at: str | None = None

    def waiting(self, reason: str, message: str = "") -> None:
        self.reason, self.message = reason, message
        self.ready = False
        self.pid = None

    def running(self, pid: int) -> None:
        self.phase, self.reason, self.message, self.pid = Phase.RUNNING, "Running", "", pid

    def terminated(self, *, reason: str, exit_code: int | None, message: str = "") -> None:
        """The process ended (crash, probe kill or token renewal) and waits for its restart."""
        self.last_state = {"reason": reason, "exitCode": exit_code, "message": message}
        self.waiting(
            "CrashLoopBackOff" if reason in ("Error", "Completed", "Unhealthy") else reason
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "serviceAccount": self.service_account,
            "phase": str(self.phase),
            "ready": self.ready,
            "restarts": self.restarts,
            "reason": self.reason,
            "message": self.message,
            "lastState": dict(self.last_state),
            "pid": self.pid,
            "tokenExpiresAt": self.token_expires_at,
        }
