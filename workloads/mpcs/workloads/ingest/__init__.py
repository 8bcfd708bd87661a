"""Telemetry ingest: the mission's Kafka telemetry topic → its InfluxDB bucket (`mpcs ingest run`).

- `lineprotocol` — telemetry message → line protocol (pure);
- `batch` — validation/DLQ decisions and batching (pure);
- `writer` — InfluxDB writes with failures classified;
- `service` — the process: consumer group, backpressure, retries, commits, probes;
- `config` — `IngestSettings` (`MPCS_*` and `MPCS_INGEST_*` variables).

docs/ingest.md describes the guarantees, the settings and the metrics.
"""

from .config import IngestSettings
from .service import Ingest

__all__ = ["Ingest", "IngestSettings"]
