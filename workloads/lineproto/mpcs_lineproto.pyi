"""Type stubs of the native module (src/lib.rs holds the documentation)."""

from collections.abc import Sequence

class TelemetryEncoder:
    def __init__(
        self,
        *,
        version: int,
        modes: Sequence[str],
        tag_key: str,
        groups: Sequence[
            tuple[str, str, bool, Sequence[tuple[str, str, str, float | None, float | None]]]
        ],
    ) -> None: ...
    def encode(self, payload: bytes) -> bytes | None: ...
    def encode_many(self, payloads: list[bytes | None]) -> list[bytes | None]: ...
