"""Checkpoints: a simulator process that dies (kill -9, node loss) resumes its spacecraft.

The runtime writes one checkpoint per telemetry sample and one after every command to the
mission's compacted `checkpoints` topic, keyed by satellite name (compaction keeps the latest per
satellite); a pool writes one per Satellite every `MPCS_SIM_POOL_CHECKPOINT_S` and one after
every command. A starting runtime (or pool) reads the latest checkpoint of its satellite(s) and
the latest telemetry message each published, restores the spacecraft (battery, temperatures,
mode and every other commanded state, boot record, storage, images, fault state, a replaced
TLE), flies it forward over the time it was down (the spacecraft did not stop when its
simulator did) and continues the sequence numbers after the last one published. Only a commanded
`RESET_SUBSYSTEM obc` reboots the spacecraft (`obc.boot_count` + 1, uptime from 0).

`snapshot`/`restore`/`restore_rows` and `encode`/`decode` are pure; `latest_record` and
`latest_records` read Kafka. Used by `mpcs.simulator.runtime` (one satellite per engine) and
`mpcs.simulator.pool` (thousands per engine, each with a sequence number of its own).
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
from aiokafka.partitioner import murmur2

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


def snapshot(engine: Engine, index: int, *, sample: int | None = None) -> dict[str, Any]:
    """Satellite `index`'s dynamic state as JSON values (parameters come from the spec).

    `sample` is the satellite's sequence number when it is not the engine's (a pool's
    satellites each continue their own).
    """
    tle = engine.tles[index]
    return {
        "time_ns": int(engine.time_ns),
        "start_ns": int(engine.start_ns),
        "sample": int(engine.sample if sample is None else sample),
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
        time_ns, sample = int(state["time_ns"]), int(state["sample"])
        pending_s = float(state["thermal_pending_s"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"unreadable checkpoint: {exc!r}") from None
    restore_rows(engine, index, state)
    engine.time_ns = time_ns
    engine.sample = sample
    engine._thermal_pending_s = pending_s


def restore_rows(engine: Engine, index: int, state: dict[str, Any]) -> None:
    """Put satellite `index` back in `state`, leaving the engine's clock and sample counter.

    For an engine that flies other satellites too (a pool): the caller brings the state to the
    engine's time first (`restore` it into an engine of its own and fly that forward). Every field
    is checked before the first assignment, so a `CheckpointError` leaves the engine as it was.
    """
    try:
        rows = state["rows"]
        values = {name: np.asarray(rows[name]) for name in ROW_STATE}
        line1, line2 = state["tle"]
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
    engine.fdir_reason[index] = reason
    engine.onboard_images[index] = onboard
    engine.downlinked[index] = downlinked


def encode(
    engine: Engine,
    index: int,
    *,
    wall_ns: int,
    executed_ids: Iterable[uuid.UUID] = (),
    sample: int | None = None,
) -> bytes:
    """The checkpoint message of satellite `index` (JSON), stamped with the wall clock; `sample`
    as in `snapshot`."""
    ids = [str(i) for i in executed_ids][-REMEMBERED_IDS:]
    return orjson.dumps(
        {
            "version": VERSION,
            "satellite": engine.names[index],
            "time": format_time_ns(engine.time_ns),
            "wall_ns": wall_ns,
            "executed_ids": ids,
            "state": snapshot(engine, index, sample=sample),
        }
    )


def seq_of(payload: bytes | None) -> int | None:
    """The `seq` of a telemetry message payload (None when absent or unreadable).

    >>> seq_of(b'{"seq": 41}'), seq_of(b'not json'), seq_of(None)
    (41, None, None)
    """
    if payload is None:
        return None
    try:
        seq = orjson.loads(payload).get("seq")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else None


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
    found = await latest_records(kafka, topic, [key], window=window, max_windows=max_windows)
    return found.get(key)


async def latest_records(
    kafka: KafkaClients,
    topic: str,
    keys: Iterable[bytes],
    *,
    window: int = 500,
    max_windows: int = 20,
) -> dict[bytes, bytes]:
    """The value of the newest record of each of `keys` in `topic` (keys without one left out).

    One scan for many keys (a pool's shard): each partition is read from its end backwards,
    `window` records at a time (at most `max_windows` windows), until every key still looked
    for there has been seen. A partition is first searched for the keys the producer's default
    partitioner sends to it now, then every partition for the keys not found (the topic grew, or
    the key has no record). The newest is the one with the latest broker timestamp.
    """
    wanted = set(keys)
    partitions = await _partitions(kafka, topic)
    if not partitions or not wanted:
        return {}
    consumer = kafka.consumer(name="resume", isolation_level="read_uncommitted")
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        begins = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        best: dict[bytes, tuple[int, bytes]] = {}

        async def search(tp: TopicPartition, looked_for: set[bytes]) -> None:
            found = await _newest_in_partition(
                consumer,
                tp,
                looked_for,
                begins[tp],
                ends[tp],
                window=window,
                max_windows=max_windows,
            )
            for key, (timestamp, value) in found.items():
                if key not in best or timestamp >= best[key][0]:
                    best[key] = (timestamp, value)

        if len(wanted) > 1:
            homes: dict[int, set[bytes]] = {}
            for key in wanted:
                homes.setdefault(_default_partition(key, len(partitions)), set()).add(key)
            for n, tp in enumerate(tps):
                if homes.get(n):
                    await search(tp, homes[n])
        missing = wanted - best.keys()
        if missing:
            for tp in tps:
                await search(tp, set(missing))
        return {key: value for key, (_, value) in best.items()}
    finally:
        await close_quietly(consumer)


def _default_partition(key: bytes, count: int) -> int:
    """The partition index (of `count`, sorted) that aiokafka's default partitioner picks."""
    hashed: int = murmur2(key)
    return (hashed & 0x7FFFFFFF) % count


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
    keys: set[bytes],
    begin: int,
    end: int,
    *,
    window: int,
    max_windows: int,
) -> dict[bytes, tuple[int, bytes]]:
    """The newest (timestamp, value) of each of `keys` found in the partition's last windows."""
    found: dict[bytes, tuple[int, bytes]] = {}
    stop = end
    for _ in range(max_windows):
        if stop <= begin or len(found) == len(keys):
            break
        start = max(begin, stop - window)
        consumer.seek(tp, start)
        newest: dict[bytes, tuple[int, bytes]] = {}
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
                key = record.key
                if key in keys and key not in found and record.value is not None:
                    newest[key] = (int(record.timestamp), bytes(record.value))
                position = record.offset + 1
        found.update(newest)  # a later window is older: what it found first stays
        stop = start
    return found
