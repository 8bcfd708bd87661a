"""One class per real server of the dev stack: how to start it, when it is healthy, how to reach it.

Each server gets free loopback ports and its own data directory under the stack's root, so several
stacks (a `make demo` and a test run) can live side by side on one machine.
"""

from __future__ import annotations

import json
import os
import re
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mpcs.core.names import PROMETHEUS_LABELS
from mpcs.dev import tools
from mpcs.dev.pki import DevPki
from mpcs.dev.process import free_port, port_open, spawn, stop_group, tail


class ServerStartError(RuntimeError):
    """A server did not become healthy; the message carries the tail of its log."""


@dataclass
class Server:
    """Common lifecycle: `start()` spawns, `wait_ready()` polls health, `stop()` ends the group."""

    name: str
    root: Path
    die_with_parent: bool
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)
    pid: int | None = field(default=None, init=False)

    @property
    def data_dir(self) -> Path:
        return self.root / self.name

    @property
    def log_path(self) -> Path:
        return self.root / "logs" / f"{self.name}.log"

    def command(self) -> tuple[list[str], dict[str, str]]:
        raise NotImplementedError

    def prepare(self) -> None:
        """One-time set-up before the first start (config files, formatted storage)."""

    def healthy(self) -> bool:
        raise NotImplementedError

    def after_ready(self) -> None:
        """Work that needs the running server (e.g. InfluxDB onboarding)."""

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv, env = self.command()
        self.proc = spawn(argv, log=self.log_path, env=env, die_with_parent=self.die_with_parent)
        self.pid = self.proc.pid

    def wait_ready(self, timeout_s: float = 120.0) -> float:
        """Poll health until it answers; returns seconds waited."""
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            if self.proc is not None and self.proc.poll() is not None:
                raise ServerStartError(
                    f"{self.name} exited with {self.proc.returncode}; log tail:\n"
                    + tail(self.log_path)
                )
            try:
                if self.healthy():
                    self.after_ready()
                    return time.monotonic() - started
            except (OSError, urllib.error.URLError, ssl.SSLError):
                pass
            time.sleep(0.25)
        raise ServerStartError(
            f"{self.name} not healthy after {timeout_s:.0f} s; log tail:\n" + tail(self.log_path)
        )

    def stop(self) -> None:
        if self.pid is not None:
            stop_group(self.pid, proc=self.proc)
        self.proc = None
        self.pid = None

    def info(self) -> dict[str, Any]:
        return {}


def _http_ok(url: str, *, context: ssl.SSLContext | None = None, timeout: float = 2.0) -> bool:
    with urllib.request.urlopen(url, context=context, timeout=timeout) as resp:
        status: int = resp.status
        return 200 <= status < 300


@dataclass
class Etcd(Server):
    client_port: int = field(default_factory=free_port)
    peer_port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    def command(self) -> tuple[list[str], dict[str, str]]:
        peer = f"http://127.0.0.1:{self.peer_port}"
        return [
            str(tools.binary("etcd")),
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls={self.url}",
            f"--advertise-client-urls={self.url}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=default={peer}",
            "--unsafe-no-fsync",
            "--log-level=warn",
        ], {}

    def healthy(self) -> bool:
        return _http_ok(f"{self.url}/health")


@dataclass
class KubeApiserver(Server):
    """kube-apiserver with client-certificate authentication, RBAC and service-account signing."""

    etcd_url: str = ""
    port: int = field(default_factory=free_port)
    pki: DevPki | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    def prepare(self) -> None:
        self.pki = DevPki(self.root / "pki")
        self.serving = self.pki.issue("apiserver", common_name="kube-apiserver", server=True)
        self.sa = self.pki.service_account_keys()
        self.admin = self.pki.issue(
            "admin", common_name="mpcs-admin", organization="system:masters"
        )
        self.cm = self.pki.issue("controller-manager", common_name="system:kube-controller-manager")
        write_kubeconfig(
            self.kubeconfig,
            server=self.url,
            ca=self.pki.ca,
            cert=self.admin.cert,
            key=self.admin.key,
            user="mpcs-admin",
        )
        write_kubeconfig(
            self.root / "controller-manager.kubeconfig",
            server=self.url,
            ca=self.pki.ca,
            cert=self.cm.cert,
            key=self.cm.key,
            user="system:kube-controller-manager",
        )

    def command(self) -> tuple[list[str], dict[str, str]]:
        assert self.pki is not None
        issuer = "https://kubernetes.default.svc.cluster.local"
        return [
            str(tools.binary("kube-apiserver")),
            f"--etcd-servers={self.etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.port}",
            f"--cert-dir={self.data_dir}",
            f"--tls-cert-file={self.serving.cert}",
            f"--tls-private-key-file={self.serving.key}",
            f"--client-ca-file={self.pki.ca}",
            f"--requestheader-client-ca-file={self.pki.ca}",
            "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            "--authorization-mode=RBAC",
            f"--service-account-issuer={issuer}",
            f"--service-account-key-file={self.sa.cert}",
            f"--service-account-signing-key-file={self.sa.key}",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--allow-privileged=true",
            "--enable-priority-and-fairness=false",
            # A dev box, not a shared cluster: room for an operator's burst of 1,000 objects.
            "--max-requests-inflight=800",
            "--max-mutating-requests-inflight=400",
            "--profiling=false",
            "--v=1",
        ], {}

    def ssl_context(self) -> ssl.SSLContext:
        assert self.pki is not None
        ctx = ssl.create_default_context(cafile=str(self.pki.ca))
        ctx.load_cert_chain(str(self.admin.cert), str(self.admin.key))
        return ctx

    def healthy(self) -> bool:
        return _http_ok(f"{self.url}/readyz", context=self.ssl_context())

    def info(self) -> dict[str, Any]:
        return {"url": self.url, "kubeconfig": str(self.kubeconfig)}


@dataclass
class ControllerManager(Server):
    apiserver: KubeApiserver | None = None
    port: int = field(default_factory=free_port)

    def command(self) -> tuple[list[str], dict[str, str]]:
        api = self.apiserver
        assert api is not None
        assert api.pki is not None
        kubeconfig = str(self.root / "controller-manager.kubeconfig")
        return [
            str(tools.binary("kube-apiserver", "kube-controller-manager")),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={self.port}",
            f"--cert-dir={self.data_dir}",
            f"--service-account-private-key-file={api.sa.key}",
            f"--root-ca-file={api.pki.ca}",
            "--use-service-account-credentials=true",
            "--leader-elect=false",
            "--controllers=*,-nodeipam,-nodelifecycle,-cloud-node-lifecycle,-service-lb-controller",
            "--v=1",
        ], {}

    def healthy(self) -> bool:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # self-signed serving cert of a loopback health check
        return _http_ok(f"https://127.0.0.1:{self.port}/healthz", context=ctx)


@dataclass
class Kafka(Server):
    """Apache Kafka in KRaft mode: one process is both broker and controller."""

    port: int = field(default_factory=free_port)
    controller_port: int = field(default_factory=free_port)
    #: User name → password: the client listener is then SASL_PLAINTEXT with mechanism PLAIN
    #: and these users (the first one is also the broker's own); unset: PLAINTEXT, no auth.
    sasl_plain_users: dict[str, str] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _listener_settings(self) -> dict[str, str]:
        if not self.sasl_plain_users:
            return {
                "listeners": f"PLAINTEXT://127.0.0.1:{self.port},"
                f"CONTROLLER://127.0.0.1:{self.controller_port}",
                "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
                "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            }
        (broker_user, broker_password), *_ = self.sasl_plain_users.items()
        users = " ".join(f'user_{u}="{p}"' for u, p in self.sasl_plain_users.items())
        return {
            "listeners": f"SASL_PLAINTEXT://127.0.0.1:{self.port},"
            f"CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"SASL_PLAINTEXT://127.0.0.1:{self.port}",
            "listener.security.protocol.map": "SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "SASL_PLAINTEXT",
            "sasl.enabled.mechanisms": "PLAIN",
            "sasl.mechanism.inter.broker.protocol": "PLAIN",
            "listener.name.sasl_plaintext.plain.sasl.jaas.config": (
                "org.apache.kafka.common.security.plain.PlainLoginModule required "
                f'username="{broker_user}" password="{broker_password}" {users};'
            ),
        }

    @property
    def _config(self) -> Path:
        return self.root / "kafka.properties"

    def _java(self) -> list[str]:
        libs = tools.binary("kafka", "libs")
        log4j = self.root / "kafka-log4j.properties"
        return [
            "java",
            "-Xms256m",
            "-Xmx768m",
            "-XX:+UseG1GC",
            "-XX:TieredStopAtLevel=1",
            f"-Dlog4j.configuration=file:{log4j}",
            "-cp",
            f"{libs}/*",
        ]

    def prepare(self) -> None:
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            **self._listener_settings(),
            "controller.listener.names": "CONTROLLER",
            "log.dirs": str(self.data_dir),
            "num.partitions": "3",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
        }
        self._config.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
        (self.root / "kafka-log4j.properties").write_text(
            "log4j.rootLogger=INFO, stdout\n"
            "log4j.appender.stdout=org.apache.log4j.ConsoleAppender\n"
            "log4j.appender.stdout.layout=org.apache.log4j.PatternLayout\n"
            "log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
            "log4j.logger.kafka=INFO\nlog4j.logger.org.apache.kafka=INFO\n"
            "log4j.logger.state.change.logger=WARN\nlog4j.logger.kafka.request.logger=WARN\n"
        )
        cluster_id = "MkU3OEVBNTcwNTJENDM2Qk"  # any base64 UUID; each stack has its own data dir
        self.data_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                *self._java(),
                "kafka.tools.StorageTool",
                "format",
                "--ignore-formatted",
                "-t",
                cluster_id,
                "-c",
                str(self._config),
            ],
            check=True,
            capture_output=True,
        )

    def command(self) -> tuple[list[str], dict[str, str]]:
        return [*self._java(), "kafka.Kafka", str(self._config)], {}

    def healthy(self) -> bool:
        if not port_open(self.port):
            return False
        return "Kafka Server started" in tail(self.log_path, 400)

    def start(self) -> None:
        # A restart must not see the previous run's "started" line as its own.
        if self.log_path.exists():
            self.log_path.rename(self.log_path.with_suffix(f".{int(time.time())}.log"))
        super().start()

    def info(self) -> dict[str, Any]:
        return {"bootstrap_servers": self.bootstrap_servers}


@dataclass
class InfluxDB(Server):
    """InfluxDB 2, onboarded with an org, a default bucket and a known admin (operator) token."""

    port: int = field(default_factory=free_port)
    org: str = "mpcs"
    token: str = "mpcs-dev-admin-token"
    _onboarded: bool = field(default=False, init=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> tuple[list[str], dict[str, str]]:
        return [
            str(tools.binary("influxd")),
            f"--bolt-path={self.data_dir / 'influxd.bolt'}",
            f"--engine-path={self.data_dir / 'engine'}",
            f"--sqlite-path={self.data_dir / 'influxd.sqlite'}",
            f"--http-bind-address=127.0.0.1:{self.port}",
            "--reporting-disabled",
            "--log-level=warn",
            "--storage-wal-fsync-delay=0s",
        ], {}

    def healthy(self) -> bool:
        return _http_ok(f"{self.url}/health")

    def after_ready(self) -> None:
        if self._onboarded:
            return
        body = json.dumps(
            {
                "username": "admin",
                "password": "mpcs-dev-password",
                "org": self.org,
                "bucket": "default",
                "token": self.token,
            }
        ).encode()
        req = urllib.request.Request(
            f"{self.url}/api/v2/setup", data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=10):
                pass
        except urllib.error.HTTPError as exc:
            if exc.code != 422:  # 422: already onboarded (a restart keeps its data)
                raise
        self._onboarded = True

    def info(self) -> dict[str, Any]:
        return {"url": self.url, "org": self.org, "token": self.token}


@dataclass
class Moto(Server):
    """moto in server mode: S3, DynamoDB, SNS and Lambda APIs over HTTP on loopback."""

    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> tuple[list[str], dict[str, str]]:
        return [
            str(tools.binary("moto", "moto_server")),
            "-H",
            "127.0.0.1",
            "-p",
            str(self.port),
        ], {}

    def healthy(self) -> bool:
        return _http_ok(f"{self.url}/moto-api/")

    def info(self) -> dict[str, Any]:
        return {"endpoint_url": self.url, "region": "us-east-1"}


@dataclass
class Prometheus(Server):
    """Prometheus scraping whatever MPCS processes announce in `targets_dir` (file discovery).

    The dev stack has no pods to discover: the local runner and the test operator write one file
    per process instead (`ScrapeTargets`). A short scrape interval lets a test see two scrapes,
    which `rate()` needs, within seconds.
    """

    port: int = field(default_factory=free_port)
    scrape_interval_s: int = 2

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def targets_dir(self) -> Path:
        return self.root / "prometheus-targets"

    @property
    def _config(self) -> Path:
        return self.root / "prometheus.yml"

    def prepare(self) -> None:
        self.targets_dir.mkdir(parents=True, exist_ok=True)
        interval = f"{self.scrape_interval_s}s"
        config = {
            "global": {
                "scrape_interval": interval,
                "scrape_timeout": interval,
                "evaluation_interval": interval,
            },
            "scrape_configs": [
                {
                    "job_name": "mpcs",
                    "file_sd_configs": [
                        # Prometheus also watches the directory; the refresh is the fallback.
                        {"files": [str(self.targets_dir / "*.json")], "refresh_interval": "5s"}
                    ],
                }
            ],
        }
        self._config.write_text(json.dumps(config, indent=2))  # JSON is valid YAML

    def command(self) -> tuple[list[str], dict[str, str]]:
        return [
            str(tools.binary("prometheus")),
            f"--config.file={self._config}",
            f"--storage.tsdb.path={self.data_dir}",
            "--storage.tsdb.retention.time=1d",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--web.enable-lifecycle",
            "--log.level=warn",
        ], {}

    def healthy(self) -> bool:
        return _http_ok(f"{self.url}/-/ready")

    def info(self) -> dict[str, Any]:
        return {"url": self.url, "targets_dir": str(self.targets_dir)}


@dataclass(frozen=True)
class ScrapeTargets:
    """A directory of Prometheus file-discovery files, one per scraped process.

    Each file is written to a hidden temporary name and renamed into place, so Prometheus (which
    re-reads the directory whenever it changes) never sees half a file. The only labels allowed
    are `PROMETHEUS_LABELS`, the ones the dashboards filter on.
    """

    directory: Path

    def path(self, key: str) -> Path:
        """The file of `key` (e.g. `namespace/deployment/replica`); `/` and the like become `_`."""
        return self.directory / (re.sub(r"[^A-Za-z0-9.-]", "_", key) + ".json")

    def publish(self, key: str, *, port: int, labels: Mapping[str, str]) -> Path:
        """Announce a process serving /metrics on loopback `port`; replaces an earlier file."""
        unknown = sorted(set(labels) - set(PROMETHEUS_LABELS))
        if unknown:
            raise ValueError(
                f"scrape target {key!r}: labels {unknown} are not scrape labels; "
                f"allowed: {list(PROMETHEUS_LABELS)}"
            )
        group = [{"targets": [f"127.0.0.1:{port}"], "labels": dict(sorted(labels.items()))}]
        final = self.path(key)
        self.directory.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            dir=self.directory, prefix=f".{final.stem}.", suffix=".tmp"
        )
        try:
            with os.fdopen(handle, "w") as out:
                json.dump(group, out)
            os.replace(temporary, final)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return final

    def withdraw(self, key: str) -> None:
        """Stop scraping `key` (nothing to do if it was never published)."""
        self.path(key).unlink(missing_ok=True)


def write_kubeconfig(
    path: Path, *, server: str, ca: Path, cert: Path, key: Path, user: str
) -> None:
    """A kubeconfig with client-certificate auth (JSON is valid YAML)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "mpcs-dev", "cluster": {"server": server, "certificate-authority": str(ca)}}
        ],
        "users": [
            {"name": user, "user": {"client-certificate": str(cert), "client-key": str(key)}}
        ],
        "contexts": [{"name": "mpcs-dev", "context": {"cluster": "mpcs-dev", "user": user}}],
        "current-context": "mpcs-dev",
    }
    path.write_text(json.dumps(config, indent=2))
