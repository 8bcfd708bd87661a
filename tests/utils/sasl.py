"""The login of the test run's SASL-secured broker (the `sasl_kafka` fixture, tests/conftest.py).

One broker that requires SASL PLAIN, started once per run beside the dev stack's open one, for
the tests that prove the clients and the operator's workload settings log in to such a broker.
"""

USER, PASSWORD = "mpcs", "mpcs-secret"
#: The broker's own inter-broker login, not used by any client under test.
ADMIN_USERS = {"admin": "admin-secret"}
