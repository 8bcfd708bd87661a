"""Checkpoints: a simulator process that dies (kill -9, node loss) resumes its spacecraft.

The runtime writes one checkpoint per telemetry sample and one after every command to the
mission's compacted `checkpoints` topic, keyed by satellite name (compaction keeps the latest per
satellite). A starting runtime reads the latest checkpoint of its satellite and the latest
telemetry message it published, restores the spacecraft (battery, temperatures, mode and every
other commanded state, boot record, storage, images, fault state, a replaced TLE), flies it
forward over the time it was down (the spacecraft did not stop when its simulator did) and
continues the sequence numbers after the last one published. Only a commanded
`RESET_SUBSYSTEM obc` reboots the spacecraft (`obc.boot_count` + 1, uptime from 0).

`snapshot`/`restore` and `encode`/`decode` are pure; `latest_record` reads Kafka. Used by
`mpcs.simulator.runtime`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

import numpy as np
import orjson
from aiokafka import TopicPartition

from mpcs.kit.kafka import KafkaClients, close_quietly
from mpcs.orbit.timeutil import format_time_ns
from mpcs.orbit.tle import parse_tle

from .engine import Engine
from .engine.constants import BATTERY_R_OHM
from .engine.state import DownlinkedImage, OnboardImage

log = logging.getLogger("mpcs.simulator")

#: Version of the checkpoint message; a runtime ignores (and logs) other versions.
VERSION = 1

#: Per-satellite rows of the engine that evolve in flight (commands, physics, faults).
ROW_STATE = (
    "mode",
    "attitude_cmd",
    "attitude_eff",
    "target_lat_deg",
    "target_lon_deg",
    "payload_on",
    "energy_wh",
    "capacity_wh",
    "temp_k",
    "heater_control",
    "heater_setpoint_c",
    "heater_active",
    "pointing_error_deg",
    "wheel_rpm",
    "wheel_desat",
    "wheel_fault_acked",
    "storage_mb",
    "images",
    "boot_ns",
    "boot_count",
    "commands_executed",
    "fdir_latched",
    "downlink_until_ns",
    "last_r",
    "last_v",
    "fade",
    "radio_ok",
    "radio_end_ns",
    "stuck_engaged",
    "stuck_rpm",
    "heater_failed",
)

#: Command ids a checkpoint remembers, so a command redelivered after a restart is not re-run.
REMEMBERED_IDS = 1_000


class CheckpointError(ValueError):
    """A checkpoint that cannot be restored (wrong version, satellite or shape)."""


def snapshot(engine: Engine, index: int) -> dict[str, Any]:
    """Satellite `index`'s dynamic state as JSON values (parameters come from the spec)."""
    tle = engine.tles[index]
    return {
        "time_ns": int(engine.time_ns),
        "start_ns": int(engine.start_ns),
        "sample": int(engine.sample),
        "thermal_pending_s": float(engine._thermal_pending_s),
        "tle": [tle.line1, tle.line2],
        "fdir_reason": engine.fdir_reason[index],
        "rows": {name: getattr(engine, name)[index].tolist() for name in ROW_STATE},
        "onboard_images": [asdict(image) for image in engine.onboard_images[index]],
        "downlinked": [
            {"image": asdict(d.image), "time_ns": d.time_ns, "station": d.station}
            for d in engine.downlinked[index]
        ],
    }


def restore(engine: Engine, index: int, state: dict[str, Any]) -> None:
    """Put satellite `index` of a freshly built engine back in `state` (from `snapshot`).

    The engine's clock and sample counter move to the snapshot's (each simulator process flies
    an engine of one satellite). Every field is checked before the first assignment, so a
    `CheckpointError` leaves the engine as it was.
    """
    try:
        rows = state["rows"]
        values = {name: np.asarray(rows[name]) for name in ROW_STATE}
        line1, line2 = state["tle"]
        time_ns, sample = int(state["time_ns"]), int(state["sample"])
        pending_s = float(state["thermal_pending_s"])
        reason = str(state["fdir_reason"])
        onboard = [OnboardImage(**image) for image in state["onboard_images"]]
        downlinked = [
            DownlinkedImage(
                image=OnboardImage(**d["image"]), time_ns=int(d["time_ns"]), station=d["station"]
            )
            for d in state["downlinked"]
        ]
        tle = engine.tles[index]
        replaced = (
            None
            if (line1, line2) == (tle.line1, tle.line2)
            else parse_tle(f"{engine.names[index]}\n{line1}\n{line2}")
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"unreadable checkpoint: {exc!r}") from None
    for name, value in values.items():
        expected = getattr(engine, name)[index].shape
        if value.shape != expected:
            raise CheckpointError(f"field {name}: shape {value.shape}, expected {expected}")
    if replaced is not None:
        engine.replace_tle(index, replaced)
    for name, value in values.items():
        getattr(engine, name)[index] = value
    # A spec change while the simulator was down may have made the battery smaller.
    engine.energy_wh[index] = min(float(engine.energy_wh[index]), float(engine.capacity_wh[index]))
    engine._battery_r_ohm = BATTERY_R_OHM * (1.0 + 2.0 * engine.fade)
    engine.time_ns = time_ns
    engine.sample = sample
    engine._thermal_pending_s = pending_s
    engine.fdir_reason[index] = reason
    engine.onboard_images[index] = onboard
    engine.downlinked[index] = downlinked


def encode(
    engine: Engine, index: int, *, wall_ns: int, executed_ids: Iterable[uuid.UUID] = ()
) -> bytes:
    """The checkpoint message of satellite `index` (JSON), stamped with the wall clock."""
    ids = [str(i) for i in executed_ids][-REMEMBERED_IDS:]
    return orjson.dumps(
        {
            "version": VERSION,
            "satellite": engine.names[index],
            "time": format_time_ns(engine.time_ns),
            "wall_ns": wall_ns,
            "executed_ids": ids,
            "state": snapshot(engine, index),
        }
    )


def decode(payload: bytes, *, satellite: str) -> dict[str, Any]:
    """A checkpoint message of `satellite`; CheckpointError if it is not one."""
    try:
        message = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise CheckpointError(f"not JSON: {exc}") from None
    if not isinstance(message, dict) or message.get("version") != VERSION:
        raise CheckpointError(f"not a version {VERSION} checkpoint")
    if message.get("satellite") != satellite:
        raise CheckpointError(f"checkpoint of {message.get('satellite')!r}, not {satellite!r}")
    if not isinstance(message.get("wall_ns"), int) or not isinstance(message.get("state"), dict):
        raise CheckpointError("checkpoint without wall_ns or state")
    return message


async def latest_record(
    kafka: KafkaClients, topic: str, key: bytes, *, window: int = 500, max_windows: int = 20
) -> bytes | None:
    """The value of the newest record with `key` in `topic` (None: none, or no such topic).

    Every partition is searched from its end backwards, `window` records at a time (at most
    `max_windows` windows each): the key's partition changes when the topic grows. The newest is
    the one with the latest broker timestamp.
    """
    partitions = await _partitions(kafka, topic)
    if not partitions:
        return None
    consumer = kafka.consumer(name="resume", isolation_level="read_uncommitted")
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        begins = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        best: tuple[int, bytes] | None = None
        for tp in tps:
            found = await _newest_in_partition(
                consumer, tp, key, begins[tp], ends[tp], window=window, max_windows=max_windows
            )
            if found is not None and (best is None or found[0] >= best[0]):
                best = found
        return None if best is None else best[1]
    finally:
        await close_quietly(consumer)


async def _partitions(kafka: KafkaClients, topic: str) -> list[int]:
    """The partition ids of `topic`; empty when it does not exist."""
    admin = kafka.admin(name="resume")
    await admin.start()
    try:
        if topic not in set(await admin.list_topics()):
            return []
        described = await admin.describe_topics([topic])
    finally:
        await close_quietly(admin)
    return sorted(
        int(p["partition"])
        for d in described
        if d["topic"] == topic and not d["error_code"]
        for p in d["partitions"]
    )


async def _newest_in_partition(
    consumer: Any,
    tp: TopicPartition,
    key: bytes,
    begin: int,
    end: int,
    *,
    window: int,
    max_windows: int,
) -> tuple[int, bytes] | None:
    stop = end
    for _ in range(max_windows):
        if stop <= begin:
            return None
        start = max(begin, stop - window)
        consumer.seek(tp, start)
        newest: tuple[int, bytes] | None = None
        position, empty = start, 0
        while position < stop and empty < 3:
            batch = await consumer.getmany(tp, timeout_ms=1_000)
            records = batch.get(tp, [])
            if not records:
                # Compaction and transaction markers leave offsets with no record to read.
                position = await consumer.position(tp)
                empty += 1
                continue
            for record in records:
                if record.offset >= stop:
                    position = stop
                    break
                if record.key == key and record.value is not None:
                    newest = (int(record.timestamp), bytes(record.value))
                position = record.offset + 1
        if newest is not None:
            return newest
        stop = start
    return None
