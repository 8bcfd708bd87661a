"""The image runs every component's command: `mpcs --help`, and a simulator in it.

Built by scripts/build-image (conftest.py) exactly as a user on a machine without Docker builds it,
then run read-only, without network, as its own non-root user, the way the chart runs it.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
from datetime import datetime

import pytest
import yaml
from imagerun import PODMAN, REPO_ROOT, Built, Run

# The first test waits for the build (scripts/build-image: about 5 minutes, longer on a cold
# machine), past the suite-wide 600 s timeout.
pytestmark = [pytest.mark.image, pytest.mark.timeout(1800)]

#: Sub-commands every component needs from the image (DESIGN: one image runs every component).
COMPONENTS = {"api", "ingest", "lambdas", "operator", "sim"}


def _inspect(image: str, template: str) -> str:
    argv = [*PODMAN, "image", "inspect", "--format", template, image]
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60).stdout


def _example_tle() -> str:
    """The first Satellite of examples/ (its TLE lines), as a two-line TLE file."""
    docs = yaml.safe_load_all((REPO_ROOT / "examples" / "20-satellites.yaml").read_text())
    first = next(d for d in docs if d and d.get("kind") == "Satellite")
    return f"{first['spec']['tle']['line1']}\n{first['spec']['tle']['line2']}\n"


def test_help_lists_every_component_and_no_dev_tooling(run_image: Run) -> None:
    result = run_image("--help")
    assert result.returncode == 0, result.stderr
    rows = set(re.findall(r"^\W*([a-z]+)\s{2,}", result.stdout, re.MULTILINE))
    assert rows >= COMPONENTS, result.stdout
    assert "dev" not in rows


def test_image_runs_as_uid_10001_with_mpcs_entrypoint(image: str, run_image: Run) -> None:
    config = json.loads(_inspect(image, "{{json .Config}}"))
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["mpcs"]
    result = run_image("-u", entrypoint="id")
    assert (result.returncode, result.stdout.strip()) == (0, "10001")


def test_image_carries_oci_labels_of_this_checkout(built: Built) -> None:
    labels = json.loads(_inspect(built.tag, "{{json .Labels}}"))
    assert labels["org.opencontainers.image.revision"] == built.revision
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    assert labels["org.opencontainers.image.title"] == "mpcs"


def test_final_image_has_no_build_tools(run_image: Run) -> None:
    # `command -v` prints the path of each tool it finds: the output lists what is there.
    script = "for tool in gcc cc cargo rustc pip pip3 apt-get; do command -v $tool; done; true"
    result = run_image("-c", script, entrypoint="sh")
    assert result.returncode == 0, result.stderr
    found = result.stdout.split()
    # apt-get is Debian's own (in both bases); compilers and pip must not be.
    assert [path for path in found if not path.endswith("/apt-get")] == [], found


def test_final_image_has_no_dev_or_deploy_packages(run_image: Run) -> None:
    """Only the runtime dependencies: not the dev group, not the CDK app's `aws` group (pyproject's
    default groups, which `uv export --no-dev` alone still exported: 470 MB of aws-cdk-lib)."""
    names = ("aws_cdk", "jsii", "constructs", "pytest", "hypothesis", "playwright", "mypy", "moto")
    script = "import importlib.util as u, sys; print(*[m for m in sys.argv[1:] if u.find_spec(m)])"
    result = run_image("-c", script, *names, entrypoint="python3")
    assert (result.returncode, result.stdout.split()) == (0, []), result.stdout + result.stderr


def test_simulator_streams_telemetry_in_the_image(run_image: Run) -> None:
    result = run_image(
        "sim",
        "telemetry",
        "--tle",
        "-",
        "--start",
        "2025-06-01T12:00:00Z",
        "--duration",
        "60",
        "--step",
        "10",
        "--name",
        "firewatch-1",
        stdin=_example_tle(),
    )
    assert result.returncode == 0, result.stderr
    messages = [json.loads(line) for line in result.stdout.splitlines()]
    assert [m["seq"] for m in messages] == list(range(7))
    assert {m["satellite"] for m in messages} == {"firewatch-1"}
    times = [datetime.fromisoformat(m["time"].replace("Z", "+00:00")) for m in messages]
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(times)] == [10.0] * 6
    # A physical orbit, not placeholders: a ~515 km LEO at ~7.6 km/s.
    assert all(480 < m["orbit"]["alt_km"] < 560 for m in messages)
    assert all(7.4 < m["orbit"]["speed_km_s"] < 7.8 for m in messages)


# Inside the image: the simulator's messages through the native encoder (the Rust wheel built in
# the builder stage) and through the Python one; both must give the same line protocol.
_NATIVE_CHECK = """
import json, sys
from mpcs.workloads.ingest.lineprotocol import encode_message_checked, encode_raw_if_valid
count = 0
for line in sys.stdin:
    raw = line.strip().encode()
    native = encode_raw_if_valid(raw)
    assert native is not None, line
    assert native == encode_message_checked(json.loads(raw)), line
    count += 1
print(count)
"""


def test_native_ingest_extension_encodes_simulator_output(run_image: Run) -> None:
    script = (
        "cat > /tmp/tle && mpcs sim telemetry --tle /tmp/tle --start 2025-06-01T12:00:00Z "
        '--duration 30 --step 10 | python3 -c "$0"'
    )
    result = run_image("-c", script, _NATIVE_CHECK, entrypoint="sh", stdin=_example_tle())
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "4"


# Inside the image, as uid 10001 on a read-only root without network: the console's files are
# root's and readable, then `mpcs api serve` (no Kafka, InfluxDB or Kubernetes answering: the API
# starts without them, /readyz stays red) serves the console at / and an offline /docs on loopback.
_CONSOLE_CHECK = r"""
import json, os, re, stat, sys, time, urllib.request
from pathlib import Path
root = Path(os.environ["MPCS_CONSOLE_DIR"])
files = [p for p in root.rglob("*") if p.is_file()]
assert root == Path("/opt/mpcs/console"), root
assert (root / "index.html").is_file() and (root / "swagger" / "swagger-ui-bundle.js").is_file()
for path in [root, *root.rglob("*")]:
    st = path.stat()
    assert st.st_uid == 0 and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH), path
    assert os.access(path, os.R_OK) and not os.access(path, os.W_OK), path
from mpcs.workloads.api.console import console_dir
from mpcs.workloads.settings import WorkloadSettings
assert console_dir(WorkloadSettings()) == root

def get(path):
    with urllib.request.urlopen(f"http://127.0.0.1:18080{path}", timeout=5) as answer:
        return answer.status, answer.headers.get_content_type(), answer.read().decode()

for _ in range(60):
    try:
        get("/healthz")
        break
    except OSError:
        time.sleep(0.5)
index = get("/")
asset = re.search(r'src="(/assets/[^"]+\.js)"', index[2]).group(1)
docs = get("/docs")
print(json.dumps({
    "files": len(files),
    "bytes": sum(p.stat().st_size for p in files),
    "index": index[:2],
    "asset": get(asset)[:2],
    "docs": docs[:2],
    "docs_assets": sorted(set(re.findall(r'"(https?://[^"]+|/swagger/[^"]+)"', docs[2]))),
    "swagger_js": get("/swagger/swagger-ui-bundle.js")[:2],
}))
"""

# A kubeconfig naming a server nobody answers on: `mpcs api serve` needs one outside a Pod.
_SERVE_CONSOLE = """
cat > /tmp/kubeconfig <<'KC'
apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "http://127.0.0.1:9"}}]
users: [{name: none, user: {token: unused}}]
contexts: [{name: none, context: {cluster: none, user: none, namespace: mpcs-image}}]
current-context: none
KC
export KUBECONFIG=/tmp/kubeconfig MPCS_NAMESPACE=mpcs-image MPCS_MISSION=image-tier \
  MPCS_KAFKA_BOOTSTRAP=127.0.0.1:9 MPCS_INFLUX_URL=http://127.0.0.1:9 MPCS_INFLUX_ORG=mpcs \
  MPCS_INFLUX_TOKEN=unused MPCS_METRICS_PORT=18081 \
  MPCS_API_TOKEN_VIEWER=viewer-token-of-the-image-tier \
  MPCS_API_TOKEN_OPERATOR=operator-token-of-the-image-tier \
  MPCS_API_TOKEN_ADMIN=admin-token-of-the-image-tier
mpcs api serve --host 127.0.0.1 --port 18080 > /tmp/api.log 2>&1 &
python3 -c "$0"; status=$?
kill $! 2> /dev/null
[ $status = 0 ] || tail -20 /tmp/api.log >&2
exit $status
"""


def test_api_serves_the_console_and_offline_docs_from_the_image(run_image: Run) -> None:
    result = run_image("-c", _SERVE_CONSOLE, _CONSOLE_CHECK, entrypoint="sh")
    assert result.returncode == 0, result.stderr[-5000:]
    served = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"console in the image: {served['files']} files, {served['bytes'] / 1e6:.1f} MB")
    assert served["index"] == [200, "text/html"]
    # text/javascript or application/javascript: mimetypes' answer depends on the base's tables.
    assert served["asset"][0] == 200, served
    assert served["asset"][1] in {"text/javascript", "application/javascript"}, served
    assert served["docs"] == [200, "text/html"]
    # Swagger UI from the image itself, nothing from a CDN: /docs works on an air-gapped network.
    assert served["docs_assets"] == [
        "/swagger/favicon-32x32.png",
        "/swagger/swagger-ui-bundle.js",
        "/swagger/swagger-ui.css",
    ], served["docs_assets"]
    assert served["swagger_js"][0] == 200, served
