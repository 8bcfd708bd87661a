"""JSON-lines logging: one object per record with the same keys in every process."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import orjson
import pytest
from utils.doctests import run_doctests

from mpcs.kit import logs
from mpcs.kit.logs import configure_logging


def test_doctests() -> None:
    run_doctests(logs)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    quiet = {name: logging.getLogger(name).level for name in logs.QUIET_LOGGERS}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, previous in quiet.items():
        logging.getLogger(name).setLevel(previous)


def test_records_become_json_lines_with_extras_and_exceptions(restore_logging: None) -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    log = logging.getLogger("mpcs.test")
    log.debug("not shown")
    log.info("plan %s started", "p1", extra={"plan": "p1", "when": object()})
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("failed")
    logging.getLogger("aiokafka").info("quiet: a library's connection chatter")
    entries = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    assert [e["message"] for e in entries] == ["plan p1 started", "failed"]
    first = entries[0]
    assert first["level"] == "INFO"
    assert first["logger"] == "mpcs.test"
    assert first["plan"] == "p1"
    assert first["when"].startswith("<object object")  # not JSON: written as its str()
    assert first["time"].endswith("Z")
    assert len(first["time"]) == len("2025-01-01T00:00:00.000Z")
    assert "RuntimeError: boom" in entries[1]["exception"]
