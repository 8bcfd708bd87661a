"""The service kit: the per-process plumbing every MPCS service shares.

Kafka clients with backoff, the InfluxDB adapter, JSON logging, the health/metrics server and the
settings base live here once, so that the simulator runtime, the ingest, the API, the executor and
the operator (and every service still to come) start, log, report health and reconnect the same way.
"""
