"""A Mission's Grafana dashboards and datasource, as code.

The operator renders these for every Mission (ConfigMaps for Grafana's dashboard sidecar, and
grafana-operator objects where that operator is installed); `mpcs grafana generate` writes the
example mission's dashboards to `grafana/dashboards/` so they can be reviewed and imported by hand.
Channels, units and thresholds come from the telemetry catalogue and the Mission's alert rules,
never typed here a second time.

Layout: `context` (what a dashboard is built from), `flux` (our Flux query builder: the SDK has
none), one module per dashboard (`overview`, `satellite`, `pipeline`), `catalog` (the list of
dashboards and their rendering), `datasource` (the InfluxDB datasource a mission's dashboards read).
"""
