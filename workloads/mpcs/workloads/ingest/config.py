"""Settings of `mpcs ingest run`: the shared workload environment plus the ingest's own knobs.

Every knob is an `MPCS_INGEST_*` environment variable with a default that suits one mission on a
small node; the operator sets none of them, a benchmark or a large mission may.
"""

from __future__ import annotations

from pydantic import Field

from mpcs.workloads.settings import WorkloadSettings


class IngestSettings(WorkloadSettings):
    """`WorkloadSettings` + batching, retry and probe settings of the telemetry ingest."""

    ingest_batch_points: int = Field(
        default=5_000,
        ge=7,
        le=1_000_000,
        description="Seal a batch once it holds this many points (7 points per message).",
    )
    ingest_linger_ms: int = Field(
        default=200,
        ge=0,
        le=60_000,
        description="Seal a non-empty batch this long after its first message arrived.",
    )
    ingest_max_batches_in_flight: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Sealed batches waiting for InfluxDB before fetching pauses (backpressure).",
    )
    ingest_write_concurrency: int = Field(
        default=2,
        ge=1,
        le=16,
        description="Batches written to InfluxDB at once (offsets still commit in order).",
    )
    ingest_retry_initial_ms: int = Field(
        default=200, ge=1, description="First retry delay of a failed write; doubles per retry."
    )
    ingest_retry_max_ms: int = Field(
        default=10_000, ge=1, description="Longest delay between two write retries."
    )
    ingest_write_timeout_s: float = Field(
        default=30.0, gt=0, description="Timeout of one InfluxDB write request."
    )
    ingest_probe_interval_s: float = Field(
        default=2.0, gt=0, description="How often /readyz re-checks Kafka and InfluxDB."
    )
    ingest_fetch_max_wait_ms: int = Field(
        default=100, ge=0, description="Longest time the broker holds a fetch waiting for data."
    )
    ingest_gzip: bool = Field(
        default=False,
        description="gzip the write body (saves network, costs CPU; off for a local InfluxDB).",
    )
    ingest_shutdown_timeout_s: float = Field(
        default=20.0, gt=0, description="On SIGTERM, time allowed to flush and commit."
    )
