"""JSON-lines logging, the same for every MPCS process (one object per line on stderr).

Pods' logs are read by machines (a log shipper, `kubectl logs | jq`) as often as by people, so every
process writes one JSON object per record with the same keys: `time` (RFC 3339 UTC, milliseconds),
`level`, `logger`, `message`, any `extra={...}` fields the caller passed, and `exception` when
there is one. `configure_logging` is called once, first thing, by each command line.

>>> record = logging.makeLogRecord(
...     {"name": "mpcs.demo", "levelname": "INFO", "msg": "started", "plans": 2, "created": 0.5}
... )
>>> print(JsonFormatter().format(record))
{"time":"1970-01-01T00:00:00.500Z","level":"INFO","logger":"mpcs.demo","message":"started","plans":2}
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

from mpcs.orbit.timeutil import format_rfc3339

#: Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}

#: Libraries whose INFO lines describe their own connection life (every reconnect, every
#: rebalance); our own loggers already say what matters about it, once.
QUIET_LOGGERS = ("aiokafka", "httpx", "kafka")

#: Servers that bring their own handlers; their records go through ours instead.
ADOPTED_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, extra fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": format_rfc3339(datetime.fromtimestamp(record.created, tz=UTC)),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: str | int = logging.INFO, *, stream: TextIO | None = None) -> None:
    """Send every record (uvicorn's too) to `stream` (stderr) as JSON lines, from `level` up."""
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ADOPTED_LOGGERS:
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
