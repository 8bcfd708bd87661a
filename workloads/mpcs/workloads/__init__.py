"""Per-mission services: telemetry ingest, command API and CommandPlan executor (DESIGN §2)."""
