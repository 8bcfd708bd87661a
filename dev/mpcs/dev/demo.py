"""`make demo`: the whole of MPCS on one machine, with a live view, until Ctrl-C.

Dev stack → CRDs → the operator (under the Helm chart's ServiceAccount and RBAC) → the local
runner standing in for a kubelet → `kubectl apply --server-side -f examples/` → telemetry flowing
into InfluxDB. Prints how to reach everything, the time to the first stored telemetry point, then
refreshes a table of the fleet.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from mpcs.core import names
from mpcs.dev import cluster, tools
from mpcs.dev.process import free_port, spawn, stop_group
from mpcs.dev.runner import LocalRunner
from mpcs.dev.servers import ScrapeTargets
from mpcs.dev.stack import ConnectionInfo, DevStack, provision_alerts
from mpcs.kit.influx import parse_annotated_csv

NAMESPACE = "mpcs-demo"
MISSION = "wildfire"
EXAMPLES = tools.REPO_ROOT / "examples"
console = Console()


def _step(message: str) -> None:
    console.print(f"[bold cyan]▶[/] {message}")


def start_operator(stack: DevStack, kubeconfig: Path) -> subprocess.Popen[bytes]:
    conn = stack.connection_info()
    metrics_port = free_port()
    alerts = provision_alerts(conn.moto_endpoint_url)
    env = {
        **alerts.operator_env(),
        "KUBECONFIG": str(kubeconfig),
        "MPCS_KAFKA_BOOTSTRAP": conn.kafka_bootstrap_servers,
        "MPCS_INFLUX_URL": conn.influx_url,
        "MPCS_INFLUX_ORG": conn.influx_org,
        "MPCS_INFLUX_TOKEN": conn.influx_token,
        "MPCS_METRICS_PORT": str(metrics_port),
        "MPCS_RESYNC_SECONDS": "30",
    }
    proc = spawn(
        [sys.executable, "-m", "mpcs.cli", "operator", "run", "--standalone"],
        log=stack.root / "logs" / "operator.log",
        env=env,
        die_with_parent=True,
    )
    # The pipeline dashboard's operator panels read it as component "operator".
    ScrapeTargets(stack.prometheus.targets_dir).publish(
        "operator", port=metrics_port, labels={"component": "operator"}
    )
    return proc


def apply_examples(kubeconfig: Path) -> None:
    kubectl = str(tools.binary("kubectl"))
    base = [kubectl, "--kubeconfig", str(kubeconfig)]
    subprocess.run([*base, "create", "namespace", NAMESPACE], capture_output=True, check=False)
    subprocess.run(
        [*base, "apply", "--server-side", "-n", NAMESPACE, "-f", str(EXAMPLES)],
        check=True,
    )


def flux(conn: ConnectionInfo, query: str) -> list[dict[str, str]]:
    """Rows of a Flux query as dicts."""
    return parse_annotated_csv(conn.flux_csv(query))


def wait_first_point(conn: ConnectionInfo, bucket: str, timeout_s: float = 300) -> float:
    started = time.monotonic()
    query = f'from(bucket: "{bucket}") |> range(start: -1h) |> limit(n: 1)'
    while time.monotonic() - started < timeout_s:
        with contextlib.suppress(httpx.HTTPError):
            if flux(conn, query):
                return time.monotonic() - started
        time.sleep(0.5)
    raise TimeoutError(f"no telemetry in bucket {bucket} after {timeout_s:.0f} s")


def latest(conn: ConnectionInfo, bucket: str) -> dict[str, dict[str, str]]:
    fields = ["battery_soc_pct", "lat_deg", "lon_deg", "alt_km", "sunlit", "in_contact", "mode"]
    wanted = " or ".join(f'r._field == "{f}"' for f in fields)
    rows = flux(
        conn,
        f'from(bucket: "{bucket}") |> range(start: -10m) |> filter(fn: (r) => {wanted}) |> last()',
    )
    result: dict[str, dict[str, str]] = {}
    for row in rows:
        if "satellite" in row:
            result.setdefault(row["satellite"], {})[row["_field"]] = row["_value"]
    return result


def render(api: k8s.CustomObjectsApi, conn: ConnectionInfo, bucket: str) -> Group:
    fleet = Table(title=f"Mission {MISSION} — fleet", expand=True)
    for column in (
        "satellite",
        "mode",
        "battery %",
        "lat",
        "lon",
        "alt km",
        "sun",
        "contact",
        "next pass",
    ):
        fleet.add_column(column)
    values = latest(conn, bucket)
    sats: Any = api.list_namespaced_custom_object(
        names.GROUP, names.VERSION, NAMESPACE, "satellites"
    )
    for sat in sats["items"]:
        name = sat["metadata"]["name"]
        v = values.get(name, {})
        nxt = (sat.get("status") or {}).get("nextPass") or {}
        fleet.add_row(
            name,
            v.get("mode", "—"),
            _num(v.get("battery_soc_pct")),
            _num(v.get("lat_deg")),
            _num(v.get("lon_deg")),
            _num(v.get("alt_km")),
            v.get("sunlit", "—"),
            v.get("in_contact", "—"),
            f"{nxt.get('station', '—')} {str(nxt.get('aos', ''))[11:19]}Z "
            f"{nxt.get('maxElevationDeg', '')}°"
            if nxt
            else "—",
        )
    plans = Table(title="Command plans", expand=True)
    for column in ("plan", "step", "command", "scheduled", "state"):
        plans.add_column(column)
    plan_list: Any = api.list_namespaced_custom_object(
        names.GROUP, names.VERSION, NAMESPACE, "commandplans"
    )
    for plan in plan_list["items"]:
        for step in (plan.get("status") or {}).get("schedule") or []:
            plans.add_row(
                plan["metadata"]["name"],
                step["name"],
                step["command"],
                step["scheduledAt"],
                step["state"],
            )
    return Group(fleet, plans)


def _num(text: str | None) -> str:
    try:
        return f"{float(text or ''):.1f}"
    except ValueError:
        return "—"


def _api_tokens(core: k8s.CoreV1Api) -> dict[str, str]:
    secret = core.read_namespaced_secret(names.child_name(MISSION, "api-tokens"), NAMESPACE)
    return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}


def run(*, root: Path, duration_s: float | None, live: bool) -> None:
    """Everything, in the foreground; Ctrl-C (or `duration_s`) stops it all cleanly."""
    shutil.rmtree(root, ignore_errors=True)
    stack = DevStack(root, die_with_parent=True)
    operator: subprocess.Popen[bytes] | None = None
    runner: LocalRunner | None = None
    runner_thread = None
    try:
        _step("starting the dev stack (etcd, kube-apiserver, controller-manager, Kafka, InfluxDB)")
        conn = stack.start()
        admin = k8s_config.new_client_from_config(config_file=conn.kubeconfig)  # type: ignore[no-untyped-call]
        _step("installing the CRDs and the chart's operator ServiceAccount + ClusterRole")
        cluster.install_crds(admin)
        op_kubeconfig = cluster.operator_kubeconfig(
            admin, admin_kubeconfig=Path(conn.kubeconfig), out=root / "operator.kubeconfig"
        )
        _step("starting the operator (logs: .cache/demo/logs/operator.log)")
        operator = start_operator(stack, op_kubeconfig)
        # The runner reads Deployments, Secrets and ConfigMaps and asks for tokens as the admin
        # (a kubelet's node credentials); each workload it starts gets only its own
        # ServiceAccount's token, in a kubeconfig of its own (server and CA from this one).
        runner = LocalRunner(
            api=admin,
            kubeconfig=Path(conn.kubeconfig),
            log_dir=root / "logs" / "workloads",
            targets_dir=Path(conn.prometheus_targets_dir),
        )
        runner_thread = runner.start_in_thread()
        _step(f"kubectl apply --server-side -n {NAMESPACE} -f examples/")
        applied = time.monotonic()
        apply_examples(Path(conn.kubeconfig))
        bucket = names.bucket(NAMESPACE, MISSION)
        _step("waiting for the first telemetry point in InfluxDB …")
        first = wait_first_point(conn, bucket)
        console.print(
            f"[bold green]first telemetry point stored {first + 0:.1f} s after "
            f"apply[/] (total {time.monotonic() - applied:.1f} s)"
        )
        _print_access(conn, admin, runner, bucket)
        _print_dashboards(admin)
        _follow(admin, conn, bucket, duration_s=duration_s, live=live)
    except KeyboardInterrupt:
        console.print("\nstopping …")
    finally:
        if runner is not None and runner_thread is not None:
            runner.stop()
            runner_thread.join(timeout=60)
        if operator is not None:
            stop_group(operator.pid, proc=operator)
        stack.stop()
        console.print("all MPCS processes stopped")


def _print_access(conn: ConnectionInfo, admin: Any, runner: LocalRunner, bucket: str) -> None:
    tokens = _api_tokens(k8s.CoreV1Api(admin))
    api_port = None
    deadline = time.monotonic() + 30
    while api_port is None and time.monotonic() < deadline:
        api_port = (
            runner.endpoints()
            .get(f"{NAMESPACE}/{names.child_name(MISSION, 'command-api')}/0", {})
            .get("http")
        )
        time.sleep(0.5)
    table = Table(title="How to reach MPCS", show_header=False)
    table.add_row("kubeconfig", f"{conn.kubeconfig}   (kubectl get mpcs -n {NAMESPACE})")
    table.add_row("workload pods", f"{runner.log_dir / 'pods.json'}   (phase, ready, restarts)")
    table.add_row("command API", f"http://127.0.0.1:{api_port}/docs" if api_port else "starting…")
    table.add_row(
        "web console",
        f"http://127.0.0.1:{api_port}/   (sign in with a token below; docs/console.md)"
        if api_port
        else "starting…",
    )
    table.add_row("viewer token", tokens.get("viewer", "?"))
    table.add_row("operator token", tokens.get("operator", "?"))
    table.add_row("admin token", tokens.get("admin", "?") + "   (critical commands)")
    table.add_row(
        "InfluxDB",
        f"{conn.influx_url}  org {conn.influx_org}  bucket {bucket}  token {conn.influx_token}",
    )
    table.add_row("Kafka", conn.kafka_bootstrap_servers)
    table.add_row(
        "Prometheus",
        f"{conn.prometheus_url}/api/v1/query?query=up  (scrapes every MPCS workload)",
    )
    console.print(table)
    if api_port:
        console.print(
            f"try: curl -H 'Authorization: Bearer {tokens.get('operator')}' -X POST "
            f"http://127.0.0.1:{api_port}/api/v1/satellites/firewatch-1/commands "
            "-H 'Content-Type: application/json' -d '{\"name\": \"PING\"}'"
        )


def _print_dashboards(admin: Any) -> None:
    """Where the operator put the mission's dashboards, and how a Grafana picks them up."""
    core = k8s.CoreV1Api(admin)
    selector = "grafana_dashboard=1"
    deadline = time.monotonic() + 30
    maps: list[Any] = []
    while not maps and time.monotonic() < deadline:
        maps = core.list_namespaced_config_map(NAMESPACE, label_selector=selector).items
        if not maps:
            time.sleep(1)
    table = Table(title=f"Grafana dashboards of mission {MISSION}", show_header=True)
    table.add_column("ConfigMap (label grafana_dashboard=1)")
    table.add_column("dashboard")
    table.add_column("folder (annotation grafana_folder)")
    for cm in sorted(maps, key=lambda m: m.metadata.name):
        [(key, text)] = (cm.data or {"?": "{}"}).items()
        title = json.loads(text).get("title", key)
        table.add_row(
            cm.metadata.name, title, (cm.metadata.annotations or {}).get("grafana_folder")
        )
    console.print(table)
    console.print(
        f"A Grafana with the dashboard sidecar (Grafana Helm chart: sidecar.dashboards.enabled and "
        f"sidecar.datasources.enabled) loads these ConfigMaps and the datasource ConfigMap "
        f"{names.child_name(MISSION, 'grafana-datasource')}; mount Secret "
        f"{names.child_name(MISSION, 'grafana-token')} for its read-only token "
        "(docs/dashboards.md). With grafana-operator installed, GrafanaDashboard objects are "
        "created as well. To look at one without a cluster, import grafana/dashboards/*.json "
        "into any Grafana 11."
    )


def _follow(
    admin: Any, conn: ConnectionInfo, bucket: str, *, duration_s: float | None, live: bool
) -> None:
    api = k8s.CustomObjectsApi(admin)
    end = time.monotonic() + duration_s if duration_s else float("inf")
    if not live:
        while time.monotonic() < end:
            time.sleep(1)
        console.print(render(api, conn, bucket))
        return
    with Live(render(api, conn, bucket), console=console, refresh_per_second=1) as view:
        while time.monotonic() < end:
            time.sleep(2)
            with contextlib.suppress(httpx.HTTPError):
                view.update(render(api, conn, bucket))
