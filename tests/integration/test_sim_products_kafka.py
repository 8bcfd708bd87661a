"""`mpcs sim run` publishes payload products: images captured and then brought down by
START_DOWNLINK during a pass appear on the mission's events topic, one valid `product` event
each, keyed by the satellite, after the commands that produced them are acknowledged."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from utils.png import read_gray_png

from mpcs.core.commands import Command
from mpcs.core.names import Topic, topic
from mpcs.core.products import is_product_event, parse_event
from mpcs.core.resources.simulation import SimulatorConfig
from mpcs.orbit.passes import predict_passes
from mpcs.simulator.runtime import RuntimeSettings, SimulatorRuntime

pytestmark = pytest.mark.integration

ISS_L1 = "1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927"
ISS_L2 = "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537"
NAMESPACE = "simprod"
CONFIG = SimulatorConfig.model_validate(
    {
        "satellite": "sat-a",
        "spec": {
            "missionRef": {"name": "simprod"},
            "tle": {"line1": ISS_L1, "line2": ISS_L2},
            "telemetryIntervalSeconds": 1,
            "simulator": {"seed": 3},
        },
        "groundStations": [{"name": "tls", "spec": {"latitudeDeg": 43.56, "longitudeDeg": 1.48}}],
    }
)


@pytest.fixture
async def runtime(kafka_bootstrap: str) -> AsyncIterator[SimulatorRuntime]:
    """A simulator that starts a minute before the culmination of its first pass over tls."""
    mission = f"m{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(topic(NAMESPACE, mission, kind), 1, 1) for kind in Topic]
        )
    finally:
        await admin.close()
    tle = CONFIG.spec.tle.parsed("sat-a")
    [station] = CONFIG.stations()
    tca = predict_passes(tle, station, tle.epoch_ns, 86_400)[0].tca_ns
    settings = RuntimeSettings(
        kafka_bootstrap=kafka_bootstrap,
        namespace=NAMESPACE,
        mission=mission,
        satellite="sat-a",
        metrics_port=0,
    )
    sim = SimulatorRuntime(settings, CONFIG, start_ns=tca - 60_000_000_000)
    task = asyncio.create_task(sim.run())
    try:
        yield sim
    finally:
        sim.stop()
        await asyncio.wait_for(task, timeout=60)


async def test_downlinked_images_are_published_as_product_events(
    runtime: SimulatorRuntime, kafka_bootstrap: str
) -> None:
    await asyncio.wait_for(runtime.consumer_ready.wait(), timeout=60)
    steps = [
        ("SET_MODE", {"mode": "PAYLOAD"}),
        ("CAPTURE_IMAGE", {"count": 2}),
        ("START_DOWNLINK", {"duration_s": 60}),
    ]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for name, args in steps:
            command = Command(satellite="sat-a", name=name, args=args, issued_by="it")
            await producer.send_and_wait(
                runtime.commands_topic, command.model_dump_json().encode(), key=b"sat-a"
            )
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        runtime.events_topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    records = []
    deadline = time.monotonic() + 60
    try:
        while len(records) < 2:
            assert time.monotonic() < deadline, f"{len(records)} product events within 60 s"
            for part in (await consumer.getmany(timeout_ms=500)).values():
                records.extend(part)
    finally:
        await consumer.stop()
    assert [r.key for r in records] == [b"sat-a", b"sat-a"]
    messages = [orjson.loads(r.value) for r in records]
    assert all(is_product_event(m) for m in messages)
    products = [parse_event(m) for m in messages]
    assert [p.image_number for p in products] == [1, 2]
    assert {p.station for p in products} == {"tls"}
    for product in products:
        assert product.downlink_time_ns >= product.capture_time_ns
        assert read_gray_png(product.png).width == 64
