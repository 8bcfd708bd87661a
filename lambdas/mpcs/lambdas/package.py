"""`mpcs lambdas package`: the alerts Lambda as a deployable zip (docs/alerts.md#the-zip).

The zip holds exactly what `mpcs.lambdas.alerts.handler` imports: the `mpcs` modules it loads
(found by importing it in a fresh interpreter and listing `sys.modules`), and the third-party
distributions those modules come from, installed with their dependencies for Lambda's Python 3.11
on x86_64 (manylinux2014 wheels only) at the versions of this environment (the lock file's). kopf,
kubernetes, fastapi and the other components' libraries are never imported, so never packed.
botocore keeps only the service models the handler calls (DynamoDB, SNS, and STS for role
credentials): the other 400 services are most of its size.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

HANDLER = "mpcs.lambdas.alerts.handler.handler"
HANDLER_MODULE = HANDLER.rsplit(".", 1)[0]
#: Lambda's runtime (python3.11 on x86_64) accepts manylinux2014 (glibc 2.17) wheels.
PYTHON_VERSION = "3.11"
UV_PLATFORM = "x86_64-manylinux2014"
PIP_PLATFORM = "manylinux2014_x86_64"
BOTOCORE_SERVICES = ("dynamodb", "sns", "sts")
#: Distributions of this project that are not on an index (never imported by the handler).
_LOCAL = {"mpcs", "mpcs-lineproto"}
#: Where Lambda's runtime cannot take the locked version. numpy >= 2.3 ships x86_64 wheels for
#: glibc >= 2.28 only, and the python3.11 runtime is Amazon Linux 2 (glibc 2.26): the zip gets
#: the last numpy with manylinux2014 wheels. (mpcs.orbit.timeutil imports numpy; the handler
#: uses none of its array functions.)
RUNTIME_OVERRIDES = {"numpy": "numpy>=2.2,<2.3"}

_PROBE = """
import importlib, json, sys
before = set(sys.modules)
importlib.import_module(sys.argv[1])
print(json.dumps({m: getattr(sys.modules[m], "__file__", None) for m in set(sys.modules) - before}))
"""


def handler_imports(module: str = HANDLER_MODULE) -> dict[str, str | None]:
    """Every module importing `module` loads in a fresh interpreter, with its file."""
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, module], check=True, capture_output=True, text=True
    ).stdout
    loaded: dict[str, str | None] = json.loads(out)
    return loaded


def distributions(modules: Iterable[str]) -> list[str]:
    """The installed distributions providing the top-level packages of `modules`."""
    owners = importlib.metadata.packages_distributions()
    found = {
        dist
        for name in modules
        for dist in owners.get(name.split(".", 1)[0], [])
        if dist.lower() not in _LOCAL
    }
    return sorted(found, key=str.lower)


def _constraints(path: Path) -> Path:
    pins = sorted(
        f"{d.metadata['Name']}=={d.version}"
        for d in importlib.metadata.distributions()
        if d.metadata["Name"]
        and d.metadata["Name"].lower() not in _LOCAL
        and d.metadata["Name"].lower() not in RUNTIME_OVERRIDES
    )
    path.write_text("\n".join(pins) + "\n", encoding="utf-8")
    return path


def install(requirements: list[str], target: Path, *, uv: str | None) -> None:
    """Install `requirements` for Lambda's runtime into `target` (pinned to this environment)."""
    with tempfile.TemporaryDirectory() as tmp:
        constraints = _constraints(Path(tmp) / "constraints.txt")
        if uv:
            argv = [uv, "pip", "install", "--target", str(target), "--no-progress"]
            argv += ["--python-version", PYTHON_VERSION, "--python-platform", UV_PLATFORM]
            argv += ["--only-binary", ":all:", "--constraint", str(constraints)]
        else:
            argv = [sys.executable, "-m", "pip", "install", "--target", str(target), "--quiet"]
            argv += ["--python-version", PYTHON_VERSION, "--platform", PIP_PLATFORM]
            argv += ["--implementation", "cp", "--only-binary=:all:", "-c", str(constraints)]
        pinned = [RUNTIME_OVERRIDES.get(r.lower(), r) for r in requirements]
        subprocess.run([*argv, *pinned], check=True)


def _trim(target: Path) -> None:
    data = target / "botocore" / "data"
    if data.is_dir():
        for entry in data.iterdir():
            if entry.is_dir() and entry.name not in BOTOCORE_SERVICES:
                shutil.rmtree(entry)
    for cache in list(target.rglob("__pycache__")):
        shutil.rmtree(cache, ignore_errors=True)
    for entry in target.glob("bin"):
        shutil.rmtree(entry)


def _copy_ours(loaded: dict[str, str | None], target: Path) -> list[str]:
    copied = []
    for name, file in sorted(loaded.items()):
        if not name.startswith("mpcs.") or file is None:
            continue
        parts = name.split(".")
        relative = Path(*parts, "__init__.py") if file.endswith("__init__.py") else None
        relative = relative or Path(*parts[:-1], parts[-1] + ".py")
        dest = target / relative
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file, dest)
        copied.append(str(relative))
    return copied


@dataclass(frozen=True)
class Package:
    """What `build` wrote."""

    zip: Path
    handler: str
    bytes: int
    unpacked_bytes: int
    distributions: list[str]
    mpcs_modules: list[str]


def build(out: Path, *, uv: str | None = None) -> Package:
    """Write the zip to `out`; returns what went in (modules, distributions, sizes)."""
    loaded = handler_imports()
    requirements = distributions(loaded)
    uv = uv or os.environ.get("MPCS_UV") or shutil.which("uv")
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "pkg"
        install(requirements, target, uv=uv)
        _trim(target)
        ours = _copy_ours(loaded, target)
        out.parent.mkdir(parents=True, exist_ok=True)
        unpacked = 0
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
            for path in sorted(target.rglob("*")):
                if path.is_file():
                    z.write(path, path.relative_to(target).as_posix())
                    unpacked += path.stat().st_size
    return Package(
        zip=out,
        handler=HANDLER,
        bytes=out.stat().st_size,
        unpacked_bytes=unpacked,
        distributions=requirements,
        mpcs_modules=ours,
    )
