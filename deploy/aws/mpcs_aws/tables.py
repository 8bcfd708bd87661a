"""The alerts table's key schema, read from its one definition (`mpcs.kit.alerts_table`).

`ensure_table` is where the table's keys and billing are written down, as the boto3
`create_table` call the dev stack and the tests make. Rather than retype them, the CDK stack runs
that function against a client that only records the call, and builds the CloudFormation table
from what it recorded.
"""

from __future__ import annotations

from typing import Any

from mpcs.kit.alerts_table import DEFAULT_TABLE, ensure_table


class _Recorder:
    """A stand-in DynamoDB client: keeps `create_table`'s arguments, waits for nothing."""

    def __init__(self) -> None:
        self.create_table_args: dict[str, Any] = {}
        self.time_to_live_args: dict[str, Any] = {}

    def create_table(self, **kwargs: Any) -> None:
        self.create_table_args = kwargs

    def describe_time_to_live(self, **_kwargs: Any) -> dict[str, Any]:
        """A new table: TTL not enabled yet (so the kit enables it, if it does)."""
        return {"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}

    def update_time_to_live(self, **kwargs: Any) -> None:
        self.time_to_live_args = kwargs

    def get_waiter(self, _name: str) -> _Recorder:
        return self

    def wait(self, **_kwargs: Any) -> None:
        return None


def alerts_table_definition(name: str = DEFAULT_TABLE) -> dict[str, Any]:
    """`create_table`'s keyword arguments for the alerts table, exactly as the kit passes them.

    >>> alerts_table_definition()["KeySchema"][0]
    {'AttributeName': 'mission', 'KeyType': 'HASH'}
    """
    recorder = _Recorder()
    ensure_table(recorder, name)
    return recorder.create_table_args
