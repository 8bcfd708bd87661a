"""The operator under test: a real `mpcs operator run` process, under the chart's identity.

It authenticates with a token of the Helm chart's ServiceAccount, bound to the chart's ClusterRole
(`mpcs.dev.cluster.chart_identity`: `helm template` of charts/mpcs, applied into the dev
apiserver) — never as cluster-admin — so every test that uses it also proves that what
`helm install` grants is sufficient. The fixtures wrapping it live in tests/conftest.py (shared
by integration and e2e tests).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from mpcs.dev.process import spawn, stop_group
from mpcs.dev.servers import ScrapeTargets
from mpcs.dev.stack import DevStack, provision_alerts

RESYNC_SECONDS = "3"
#: The operator's scrape labels: no namespace (it runs in none here, and serves all of them) and
#: no mission (it serves every mission).
SCRAPE_LABELS = {"component": "operator"}


@dataclass
class OperatorProcess:
    """`mpcs operator run` as a child process; `restart()` kills it hard and starts it again."""

    kubeconfig: Path
    stack: DevStack
    log: Path
    metrics_port: int
    #: False joins the Kopf peering (two replicas, one active); True runs alone.
    standalone: bool = True
    namespaces: list[str] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def scrape_key(self) -> str:
        """Its file in the dev stack's Prometheus targets (one per operator process)."""
        return f"operator-{self.metrics_port}"

    def start(self) -> None:
        conn = self.stack.connection_info()
        env = {
            # The alerts topic and table on the stack's moto (created here, idempotently).
            **provision_alerts(conn.moto_endpoint_url).operator_env(),
            "KUBECONFIG": str(self.kubeconfig),
            "MPCS_KAFKA_BOOTSTRAP": conn.kafka_bootstrap_servers,
            "MPCS_INFLUX_URL": conn.influx_url,
            "MPCS_INFLUX_ORG": conn.influx_org,
            "MPCS_INFLUX_TOKEN": conn.influx_token,
            "MPCS_RESYNC_SECONDS": RESYNC_SECONDS,
            "MPCS_METRICS_PORT": str(self.metrics_port),
            "MPCS_IMAGE": "mpcs:test",
            **self.extra_env,
        }
        args = [sys.executable, "-m", "mpcs.cli", "operator", "run"]
        args += ["--standalone"] if self.standalone else []
        for namespace in self.namespaces:
            args += ["--namespace", namespace]
        self.proc = spawn(
            args,
            log=self.log,
            env={**os.environ, **env},
            die_with_parent=True,
        )
        ScrapeTargets(self.stack.prometheus.targets_dir).publish(
            self.scrape_key, port=self.metrics_port, labels=SCRAPE_LABELS
        )

    def stop(self, *, hard: bool = False) -> None:
        ScrapeTargets(self.stack.prometheus.targets_dir).withdraw(self.scrape_key)
        if self.proc is not None:
            if hard:
                self.proc.kill()
                self.proc.wait()
            else:
                stop_group(self.proc.pid, proc=self.proc)
            self.proc = None

    def restart(self) -> None:
        self.stop(hard=True)
        self.start()
