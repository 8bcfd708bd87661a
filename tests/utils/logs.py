"""Logs of processes a fixture started, so a failing test's report can show their tails."""

from __future__ import annotations

from pathlib import Path

#: fixture name → log file; the root conftest adds the tails of the fixtures a failing test used.
EXTRA_LOGS: dict[str, Path] = {}


def register_log(fixture: str, path: Path) -> None:
    EXTRA_LOGS[fixture] = path
