"""Prometheus metrics of one ingest process (its own registry, served on `/metrics`).

Every metric is prefixed `mpcs_ingest_`:

- `messages_total{result}` (counter): Kafka records handled, `stored` or `dlq`;
- `points_total`, `channel_values_total` (counters): points (7 per message) and channel values
  (48 per message) InfluxDB accepted; `points_per_second` (gauge) over the last probe interval;
- `batches_total` (counter): batches written and committed;
- `batch_latency_seconds` (histogram): sealing a batch → InfluxDB accepted it, retries included;
- `write_seconds` (histogram): one successful InfluxDB write request;
- `freshness_seconds` (histogram): per batch, Kafka timestamp (produce) of its oldest record →
  InfluxDB accepted the batch (an upper bound for every record of the batch);
- `dlq_total` (counter): messages sent to the mission's dlq topic;
- `write_errors_total{kind}` (counter): failed writes, `unreachable`/`server`/`auth`/`rejected`;
- `commit_errors_total` (counter): offset commits that failed (rebalance, broker down);
- `consumer_lag{partition}`, `consumer_lag_total` (gauges): high watermark − committed offset;
- `ready` (gauge): 1 while /readyz answers 200.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class IngestMetrics:
    """The ingest's metric objects, registered in `registry`."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.messages = Counter(
            "mpcs_ingest_messages",
            "Kafka records handled, by result (stored or dlq).",
            ["result"],
            registry=registry,
        )
        self.points = Counter("mpcs_ingest_points", "Points InfluxDB accepted.", registry=registry)
        self.channel_values = Counter(
            "mpcs_ingest_channel_values", "Channel values InfluxDB accepted.", registry=registry
        )
        self.points_per_second = Gauge(
            "mpcs_ingest_points_per_second",
            "Accepted points per second over the last probe interval.",
            registry=registry,
        )
        self.batches = Counter(
            "mpcs_ingest_batches", "Batches written and committed.", registry=registry
        )
        self.batch_latency = Histogram(
            "mpcs_ingest_batch_latency_seconds",
            "Sealing a batch until InfluxDB accepted it, retries included.",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.write_seconds = Histogram(
            "mpcs_ingest_write_seconds",
            "Duration of one successful InfluxDB write request.",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.freshness = Histogram(
            "mpcs_ingest_freshness_seconds",
            "Per batch: produce time of its oldest record until InfluxDB accepted the batch.",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.dlq = Counter(
            "mpcs_ingest_dlq", "Messages sent to the mission's dlq topic.", registry=registry
        )
        self.write_errors = Counter(
            "mpcs_ingest_write_errors",
            "Failed InfluxDB writes, by kind (unreachable, server, auth, rejected).",
            ["kind"],
            registry=registry,
        )
        self.commit_errors = Counter(
            "mpcs_ingest_commit_errors", "Offset commits that failed.", registry=registry
        )
        self.lag = Gauge(
            "mpcs_ingest_consumer_lag",
            "High watermark minus committed offset, per assigned partition.",
            ["partition"],
            registry=registry,
        )
        self.lag_total = Gauge(
            "mpcs_ingest_consumer_lag_total",
            "Consumer lag summed over the assigned partitions.",
            registry=registry,
        )
        self.ready = Gauge("mpcs_ingest_ready", "1 when /readyz answers 200.", registry=registry)
        for kind in ("unreachable", "server", "auth", "rejected"):
            self.write_errors.labels(kind)
        for result in ("stored", "dlq"):
            self.messages.labels(result)
