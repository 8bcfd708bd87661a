"""Packaging glue: one `mpcs` distribution from the design card's component folders.

Each component folder (core/, operator/, simulator/, workloads/, lambdas/) holds a slice of the
`mpcs` namespace package (`<folder>/mpcs/<component>/`). Nesting the code one level down is what
keeps `operator/` from shadowing the standard library's `operator` module whenever the repository
root is on sys.path (see docs/architecture.md).
"""

from pathlib import Path

from setuptools import find_namespace_packages, setup

COMPONENT_ROOTS = ["core", "operator", "simulator", "workloads", "lambdas"]


def _packages() -> tuple[list[str], dict[str, str]]:
    packages: list[str] = []
    package_dir: dict[str, str] = {}
    for root in COMPONENT_ROOTS:
        for pkg in find_namespace_packages(where=root, include=["mpcs.*"]):
            packages.append(pkg)
            package_dir[pkg] = str(Path(root, *pkg.split(".")))
    return packages, package_dir


_PACKAGES, _PACKAGE_DIR = _packages()
setup(packages=_PACKAGES, package_dir=_PACKAGE_DIR)
