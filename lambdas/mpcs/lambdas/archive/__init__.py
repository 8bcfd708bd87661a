"""The S3 archive of a mission: hourly Parquet telemetry and the payload products.

- `handler.handler`: the Lambda for an EventBridge schedule; every closed hour of each mission's
  telemetry not yet archived becomes one Parquet object per satellite (docs/archive.md);
- `products`: a `product` event from a mission's events topic becomes a PNG and a JSON object;
- `layout` names every key, `schema` derives the Parquet schema from the telemetry catalogue,
  `source` reads an hour from InfluxDB, `store` writes to S3 only where nothing is yet.

`mpcs lambdas run-archive` (`mpcs.lambdas.cli`) runs both in the cluster.
"""
