"""Kafka security settings: MPCS_* variables → checks → the aiokafka options of every client.

Also the MSK IAM token provider (its signer stubbed at its seam: MSK itself cannot be reached
offline), and a scan of the source proving no module builds an aiokafka client outside the kit.
"""

from __future__ import annotations

import ast
import asyncio
import ssl
import threading
from pathlib import Path

import certifi
import pytest
from utils.doctests import run_doctests

from mpcs.kit import kafka as kafka_module
from mpcs.kit.kafka import KafkaClients, MskIamTokenProvider, security_options
from mpcs.kit.settings import KafkaSecurity, ServiceSettings, SettingsError, load_settings

REPO = Path(__file__).resolve().parents[3]
PACKAGES = ("core", "operator", "simulator", "workloads", "lambdas")
SECURITY_VARS = (
    "MPCS_KAFKA_SECURITY_PROTOCOL",
    "MPCS_KAFKA_CA_FILE",
    "MPCS_KAFKA_SASL_MECHANISM",
    "MPCS_KAFKA_SASL_USERNAME",
    "MPCS_KAFKA_SASL_PASSWORD",
    "MPCS_KAFKA_SASL_TOKEN_PROVIDER",
    "MPCS_KAFKA_AWS_REGION",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in SECURITY_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MPCS_KAFKA_BOOTSTRAP", "k:9092")


def _settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> ServiceSettings:
    for key, value in env.items():
        monkeypatch.setenv(f"MPCS_KAFKA_{key.upper()}", value)
    return load_settings(ServiceSettings)


def test_doctests() -> None:
    run_doctests(kafka_module)


def test_default_is_plaintext_without_sasl(monkeypatch: pytest.MonkeyPatch) -> None:
    security = _settings(monkeypatch).kafka_security
    assert security == KafkaSecurity()
    assert security_options(security) == {"security_protocol": "PLAINTEXT"}


def test_sasl_ssl_scram_with_a_ca_file(monkeypatch: pytest.MonkeyPatch) -> None:
    security = _settings(
        monkeypatch,
        security_protocol="SASL_SSL",
        ca_file=certifi.where(),
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="mpcs",
        sasl_password="s3cret",
    ).kafka_security
    options = security_options(security)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("mpcs", "s3cret")
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.cert_store_stats()["x509_ca"] > 0  # the CA file was loaded


def test_ssl_without_a_ca_file_verifies_against_the_system_cas(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    options = security_options(_settings(monkeypatch, security_protocol="SSL").kafka_security)
    assert set(options) == {"security_protocol", "ssl_context"}
    assert options["ssl_context"].verify_mode == ssl.CERT_REQUIRED


def test_msk_iam_maps_to_oauthbearer_with_the_msk_token_provider(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    security = _settings(
        monkeypatch,
        security_protocol="SASL_SSL",
        sasl_mechanism="OAUTHBEARER",
        sasl_token_provider="aws-msk-iam",
        aws_region="eu-west-1",
    ).kafka_security
    options = security_options(security)
    assert options["sasl_mechanism"] == "OAUTHBEARER"
    provider = options["sasl_oauth_token_provider"]
    assert isinstance(provider, MskIamTokenProvider)
    assert provider.region == "eu-west-1"
    assert "sasl_plain_password" not in options


def test_empty_values_from_helm_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    security = _settings(
        monkeypatch, ca_file="", sasl_mechanism="", sasl_token_provider="", aws_region=""
    ).kafka_security
    assert security == KafkaSecurity()


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"sasl_mechanism": "OAUTHBEARER"}, "MPCS_KAFKA_SECURITY_PROTOCOL"),
        ({"security_protocol": "SASL_SSL"}, "MPCS_KAFKA_SASL_MECHANISM"),
        (
            {"security_protocol": "SASL_SSL", "sasl_mechanism": "GSSAPI"},
            "MPCS_KAFKA_SASL_MECHANISM",
        ),
        ({"security_protocol": "TLS"}, "MPCS_KAFKA_SECURITY_PROTOCOL"),
        (
            {"security_protocol": "SASL_SSL", "sasl_mechanism": "OAUTHBEARER"},
            "MPCS_KAFKA_SASL_TOKEN_PROVIDER",
        ),
        (
            {
                "security_protocol": "SASL_SSL",
                "sasl_mechanism": "OAUTHBEARER",
                "sasl_token_provider": "aws-msk-iam",
            },
            "MPCS_KAFKA_AWS_REGION",
        ),
        (
            {
                "security_protocol": "SASL_SSL",
                "sasl_mechanism": "PLAIN",
                "sasl_token_provider": "aws-msk-iam",
                "aws_region": "eu-west-1",
            },
            "MPCS_KAFKA_SASL_TOKEN_PROVIDER",
        ),
        (
            {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512"},
            "MPCS_KAFKA_SASL_PASSWORD",
        ),
        ({"ca_file": "/etc/ssl/ca.pem"}, "MPCS_KAFKA_CA_FILE"),
        ({"security_protocol": "SSL", "ca_file": "/nonexistent/ca.pem"}, "MPCS_KAFKA_CA_FILE"),
    ],
)
def test_a_bad_combination_is_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str
) -> None:
    with pytest.raises(SettingsError) as info:
        _settings(monkeypatch, **env)
    assert named in str(info.value)


def test_the_operator_passes_everything_but_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    security = _settings(
        monkeypatch,
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="mpcs",
        sasl_password="s3cret",
    ).kafka_security
    env = {item["name"]: item["value"] for item in security.env()}
    assert env == {
        "MPCS_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "MPCS_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "MPCS_KAFKA_SASL_USERNAME": "mpcs",
    }
    assert "s3cret" not in repr(security.env())


def test_msk_iam_env_round_trips(monkeypatch: pytest.MonkeyPatch) -> None:
    security = KafkaSecurity(
        protocol="SASL_SSL",
        sasl_mechanism="OAUTHBEARER",
        token_provider="aws-msk-iam",
        aws_region="us-east-1",
    )
    for item in security.env():
        monkeypatch.setenv(item["name"], item["value"])
    assert load_settings(ServiceSettings).kafka_security == security


async def test_every_client_of_the_kit_carries_the_security() -> None:
    security = KafkaSecurity(
        protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN", sasl_username="u", sasl_password="p"
    )
    kafka = KafkaClients("127.0.0.1:1", client_id="t", security=security)
    producer, consumer, admin = kafka.producer(), kafka.consumer("x"), kafka.admin()
    for client in (producer.client, consumer._client, admin._client):
        assert client._security_protocol == "SASL_PLAINTEXT"
        assert (client._sasl_mechanism, client._sasl_plain_username) == ("PLAIN", "u")
    await producer.stop()
    await consumer.stop()
    await admin.close()


class _Signer:
    """The MSK signer's seam: counts calls, remembers the thread, hands out numbered tokens."""

    def __init__(self, lifetime_s: float, clock: list[float]) -> None:
        self.lifetime_s = lifetime_s
        self.clock = clock
        self.calls = 0
        self.threads: set[int] = set()

    def __call__(self, region: str) -> tuple[str, int]:
        self.calls += 1
        self.threads.add(threading.get_ident())
        return f"{region}-token-{self.calls}", int((self.clock[0] + self.lifetime_s) * 1000)


async def test_msk_token_is_signed_off_the_loop_cached_and_refreshed_before_expiry() -> None:
    now = [1_000_000.0]
    signer = _Signer(lifetime_s=900, clock=now)
    provider = MskIamTokenProvider(
        "eu-west-1", signer=signer, refresh_before_s=60, clock=lambda: now[0]
    )
    assert await provider.token() == "eu-west-1-token-1"
    assert threading.get_ident() not in signer.threads  # signed in a worker thread

    now[0] += 839  # 61 s left: still good
    assert await provider.token() == "eu-west-1-token-1"
    assert signer.calls == 1

    now[0] += 2  # 59 s left: inside the refresh margin
    assert await provider.token() == "eu-west-1-token-2"
    assert signer.calls == 2


async def test_concurrent_connections_share_one_signing() -> None:
    now = [0.0]
    signer = _Signer(lifetime_s=900, clock=now)
    provider = MskIamTokenProvider("us-east-1", signer=signer, clock=lambda: now[0])
    tokens = await asyncio.gather(*(provider.token() for _ in range(5)))
    assert set(tokens) == {"us-east-1-token-1"}
    assert signer.calls == 1


def test_the_default_signer_is_the_msk_package() -> None:
    from aws_msk_iam_sasl_signer import MSKAuthTokenProvider

    assert callable(MSKAuthTokenProvider.generate_auth_token)
    assert MskIamTokenProvider("eu-west-1")._sign is kafka_module._msk_signer


def _python_files() -> list[Path]:
    return [
        path
        for package in PACKAGES
        for path in (REPO / package / "mpcs").rglob("*.py")
        if ".venv" not in path.parts
    ]


def _calls(path: Path) -> list[ast.Call]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)]


def _name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def test_no_module_builds_an_aiokafka_client_outside_the_kit() -> None:
    files = _python_files()
    assert len(files) > 50  # the scan found the packages
    kit = REPO / "core" / "mpcs" / "kit" / "kafka.py"
    aiokafka_clients = {"AIOKafkaProducer", "AIOKafkaConsumer", "AIOKafkaAdminClient"}
    outside = [
        f"{path.relative_to(REPO)}:{call.lineno}"
        for path in files
        if path != kit
        for call in _calls(path)
        if _name(call) in aiokafka_clients
    ]
    assert outside == []
    assert any(_name(call) in aiokafka_clients for call in _calls(kit))


def test_every_kit_client_factory_gets_the_process_security() -> None:
    made = [
        (path, call)
        for path in _python_files()
        for call in _calls(path)
        if _name(call) in {"KafkaClients", "KafkaTopics"}
    ]
    assert made  # the services build their clients with the kit
    unsecured = [
        f"{path.relative_to(REPO)}:{call.lineno}"
        for path, call in made
        if not any(keyword.arg == "security" for keyword in call.keywords)
    ]
    assert unsecured == []
