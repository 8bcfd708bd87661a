"""Telemetry alerts: rules evaluated per (satellite, rule) in spacecraft time, state in DynamoDB,
notifications on SNS (docs/alerts.md).

`handler.handler` is the Lambda entry point; `handler.process` is what the in-cluster runner
calls with the records of one poll. `rules` is pure (no AWS type), `store` and `notify` do the I/O.
"""
