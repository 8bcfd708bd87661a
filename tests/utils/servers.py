"""Servers a fixture starts for itself, beside the session's dev stack."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mpcs.dev.servers import Kafka
from utils.logs import register_log


@contextmanager
def running_kafka(root: Path, fixture: str, **options: Any) -> Iterator[Kafka]:
    """A broker of its own under `root` (its log shown in a failing test's report as `fixture`),
    stopped on exit; `options` go to `Kafka` (e.g. `sasl_plain_users`)."""
    kafka = Kafka("kafka", root=root, die_with_parent=True, **options)
    kafka.prepare()
    kafka.start()
    register_log(fixture, kafka.log_path)
    try:
        kafka.wait_ready()
        yield kafka
    finally:
        kafka.stop()
