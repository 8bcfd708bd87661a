"""AWS Lambda handlers (telemetry alerts) and their in-cluster Kafka runner (DESIGN §2)."""
