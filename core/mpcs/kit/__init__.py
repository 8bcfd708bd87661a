"""The service kit: the per-process plumbing every MPCS service shares.

The simulator runtime, the ingest, the command API, the CommandPlan executor (and every service
still to come) start, log, report health, reconnect and talk to InfluxDB the same way because
they do it with these modules, each imported by its own name (so a process loads only what it
uses):

- `settings` — `ServiceSettings` / `MissionSettings`, the `MPCS_*` settings base;
- `logs` — `configure_logging`, JSON lines on stderr;
- `health` — `HealthServer`, `/healthz`, `/readyz` and Prometheus `/metrics`;
- `backoff` — `Backoff`, exponential retry delays;
- `kafka` — `KafkaClients` (idempotent producers, consumers, admin) started with backoff;
- `influx` — `InfluxBucket` (write, query, health) and the Flux annotated-CSV parser;
- `lineprotocol` — the one line-protocol escaping rule set;
- `service` — `run_service`, a process run until SIGTERM and stopped cleanly;
- `alerts_table` — `AlertTable`, the alerts' DynamoDB table as the API and the alerts runner
  read it (list, acknowledge).

Times are written and read with `mpcs.orbit.timeutil`. The kit imports `mpcs.core` and
`mpcs.orbit`, never a component.
"""
