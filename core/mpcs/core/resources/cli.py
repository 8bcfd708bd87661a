"""`mpcs crds`: write the generated CRDs (and docs/resources.md), or check they are current.

Run from the repository root: `mpcs crds generate` after changing a model, `mpcs crds check` in CI
(exits 1 naming every stale or missing file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .crds import generated_files

app = typer.Typer(
    help="Generate the MPCS CustomResourceDefinitions from the resource models.",
    no_args_is_help=True,
)

CrdsDir = Annotated[Path, typer.Option("--out", help="Directory of the CRD YAML files.")]
DocsPath = Annotated[Path, typer.Option("--docs", help="The generated reference page.")]


def _files(out: Path, docs: Path) -> dict[Path, str]:
    return {
        Path(path): text
        for path, text in generated_files(crds_dir=str(out), docs_path=str(docs)).items()
    }


def stale_files(out: Path = Path("crds"), docs: Path = Path("docs/resources.md")) -> list[Path]:
    """Generated files whose content on disk differs from what the models produce."""
    return [
        path
        for path, text in _files(out, docs).items()
        if not path.is_file() or path.read_text(encoding="utf-8") != text
    ]


@app.command()
def generate(out: CrdsDir = Path("crds"), docs: DocsPath = Path("docs/resources.md")) -> None:
    """Write crds/*.yaml and docs/resources.md from the models."""
    for path, text in _files(out, docs).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            typer.echo(f"unchanged {path}")
            continue
        path.write_text(text, encoding="utf-8")
        typer.echo(f"wrote     {path}")


@app.command()
def check(out: CrdsDir = Path("crds"), docs: DocsPath = Path("docs/resources.md")) -> None:
    """Exit 1 when a generated file is missing or stale (naming each one)."""
    stale = stale_files(out, docs)
    for path in stale:
        typer.echo(f"stale: {path} (run `mpcs crds generate`)", err=True)
    if stale:
        raise typer.Exit(1)
    typer.echo("crds up to date")
