"""Test-run fixtures: one real dev stack per run, isolation by namespace/topic/bucket names.

The stack starts lazily, the first time a test asks for it, so `pytest tests/unit` starts no server.
Its servers die with the pytest process (parent-death signal), so even a crashed run leaves none.
When a test that used a server fails, the report shows the tail of that server's log.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import config
from kubernetes.client import ApiClient
from utils.kube import temporary_namespace
from utils.logs import EXTRA_LOGS, register_log
from utils.operator import OperatorProcess
from utils.sasl import ADMIN_USERS
from utils.sasl import PASSWORD as SASL_PASSWORD
from utils.sasl import USER as SASL_USER
from utils.servers import running_kafka

from mpcs.dev.cluster import install_crds, operator_kubeconfig
from mpcs.dev.process import free_port, tail
from mpcs.dev.servers import Kafka
from mpcs.dev.stack import ConnectionInfo, DevStack

#: Which server logs are relevant to a test, by the fixtures it uses.
_LOGS_BY_FIXTURE = {
    "kube": ["kube-apiserver", "kube-controller-manager"],
    "kube_client": ["kube-apiserver", "kube-controller-manager"],
    "namespace": ["kube-apiserver", "kube-controller-manager"],
    "kafka_bootstrap": ["kafka"],
    "influx": ["influxdb"],
    "moto_endpoint": ["moto"],
    "prometheus_url": ["prometheus"],
}

_STACK: DevStack | None = None


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    """Every real server, started once per test run."""
    global _STACK
    dev_stack = DevStack(tmp_path_factory.mktemp("devstack"), die_with_parent=True)
    dev_stack.start()
    _STACK = dev_stack
    try:
        yield dev_stack
    finally:
        dev_stack.stop()
        _STACK = None


@pytest.fixture(scope="session")
def conn(stack: DevStack) -> ConnectionInfo:
    return stack.connection_info()


@pytest.fixture(scope="session")
def kubeconfig(stack: DevStack) -> Path:
    return stack.apiserver.kubeconfig


@pytest.fixture(scope="session")
def kafka_bootstrap(stack: DevStack) -> str:
    return stack.kafka.bootstrap_servers


@pytest.fixture(scope="session")
def sasl_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kafka]:
    """A broker that requires SASL PLAIN (login in utils.sasl), started once per test run."""
    with running_kafka(
        tmp_path_factory.mktemp("sasl-kafka"),
        "sasl_kafka",
        sasl_plain_users={**ADMIN_USERS, SASL_USER: SASL_PASSWORD},
    ) as kafka:
        yield kafka


@pytest.fixture(scope="session")
def influx(stack: DevStack) -> ConnectionInfo:
    return stack.connection_info()


@pytest.fixture(scope="session")
def moto_endpoint(stack: DevStack) -> str:
    return stack.moto.url


@pytest.fixture(scope="session")
def prometheus_url(stack: DevStack) -> str:
    """The stack's Prometheus; processes join its scrape targets through `ScrapeTargets`."""
    return stack.prometheus.url


@pytest.fixture
def unique() -> str:
    """A short random suffix for names a test creates (topics, buckets, namespaces)."""
    return uuid.uuid4().hex[:8]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Iterator[pytest.TestReport]:
    report: pytest.TestReport = yield
    if report.failed and _STACK is not None:
        fixtures = set(getattr(item, "fixturenames", ()))
        names = sorted(
            {log for f in fixtures & _LOGS_BY_FIXTURE.keys() for log in _LOGS_BY_FIXTURE[f]}
        )
        for name, text in _STACK.log_tails(names or None).items():
            report.sections.append((f"{name} log (tail)", text))
        for fixture in sorted(fixtures & EXTRA_LOGS.keys()):
            report.sections.append((f"{fixture} log (tail)", tail(EXTRA_LOGS[fixture], 60)))
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print what tests measured (`record_property("measured: …", value)`) at the end of the run.

    Not assertions (timings belong to bench/): figures an issue asks the end-to-end tests to show,
    visible in the CI log instead of only in captured output.
    """
    lines = [
        f"{report.nodeid}: {name.removeprefix('measured: ')} = {value}"
        for reports in terminalreporter.stats.values()
        for report in reports
        if isinstance(report, pytest.TestReport) and report.when == "call"
        for name, value in report.user_properties
        if name.startswith("measured: ")
    ]
    if lines:
        terminalreporter.write_sep("-", "measured")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def kube_client(kubeconfig: Path) -> Iterator[ApiClient]:
    """An admin (system:masters) client of the test apiserver."""
    client = config.new_client_from_config(config_file=str(kubeconfig))
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def namespace(kube_client: ApiClient, unique: str) -> Iterator[str]:
    """A fresh namespace per test; deleted afterwards (tests isolate by namespace)."""
    with temporary_namespace(kube_client, f"t-{unique}") as name:
        yield name


@pytest.fixture(scope="session")
def crds(kube_client: ApiClient) -> None:
    """The generated MPCS CRDs, installed once per run (server-side apply, idempotent)."""
    install_crds(kube_client)


@pytest.fixture(scope="session")
def operator_identity(kube_client: ApiClient, stack: DevStack) -> Path:
    """A kubeconfig of the chart's operator ServiceAccount (`helm template`, once per run)."""
    return operator_kubeconfig(
        kube_client,
        admin_kubeconfig=stack.apiserver.kubeconfig,
        out=stack.root / "operator.kubeconfig",
    )


@pytest.fixture(scope="module")
def operator(stack: DevStack, crds: None, operator_identity: Path) -> Iterator[OperatorProcess]:
    """`mpcs operator run` as a child process, under the chart's ServiceAccount and ClusterRole.

    Module-scoped: it watches every namespace, so it must not outlive the modules that want it
    (the workload tests hand-craft CommandPlan status that a live operator would re-plan).
    """
    process = OperatorProcess(
        kubeconfig=operator_identity,
        stack=stack,
        log=stack.root / "logs" / "operator.log",
        metrics_port=free_port(),
    )
    register_log("operator", process.log)
    process.start()
    try:
        yield process
    finally:
        process.stop()
