"""Alerts handler throughput: Kafka records per CPU-second with 10 rules, 100 satellites.

Two measurements, reported apart because they answer different questions:

(a) **handler, state in memory** — `AlertsProcessor.process` exactly as Lambda runs it (our Kafka
    event parser, telemetry checks, grouping and time order, the 10 rules, the decision which
    items to write) over an event built by `build_kafka_event`, with the DynamoDB store and SNS
    replaced by in-memory stand-ins that do no I/O. This is the CPU the handler spends per record,
    so records per CPU-second is records/s per core. Variants: `MPCS_ALERTS_VALIDATE=full` (every
    channel checked) and powertools' pydantic models parsing the event instead of ours.
(b) **end to end against moto's server** — the same handler with boto3 over HTTP to a local moto
    server (DynamoDB + SNS → SQS). moto is a Python mock serving one request at a time; this
    number measures moto at least as much as us, and says how many AWS calls a batch costs.

Telemetry: the simulator's message for 100 satellites at 1 Hz, each satellite's battery state of
charge swinging between 10 % and 90 % over 20 minutes, so rules go pending, fire and resolve
during the run (transitions are counted). Writes bench/results/alerts_handler.json and .md.
Not a test: numbers depend on the machine.
Run: `.venv/bin/python bench/alerts_handler.py [--quick]`.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from machine import machine

from mpcs.core.resources import SatelliteSpec
from mpcs.core.telemetry import encode
from mpcs.lambdas.alerts import events
from mpcs.lambdas.alerts.events import KafkaRecord, build_kafka_event, parse_kafka_event
from mpcs.lambdas.alerts.handler import AlertsProcessor
from mpcs.lambdas.alerts.model import RuleState, Transition
from mpcs.lambdas.alerts.store import AlertStore, RuleItem, SatelliteItem, rule_key
from mpcs.lambdas.settings import AlertsSettings
from mpcs.orbit.timeutil import format_time_ns
from mpcs.simulator import Spacecraft

RESULTS = Path(__file__).parent / "results"
MISSION = "ops/bench"
TOPIC = "mpcs.ops.bench.telemetry"
ISS_L1 = "1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927"
ISS_L2 = "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537"
S = 1_000_000_000
T0_NS = 1_700_000_000 * S
RULES: list[dict[str, Any]] = [
    {"name": "battery-low", "channel": "power.battery_soc_pct", "operator": "<", "threshold": 25,
     "clearThreshold": 30, "forSeconds": 30, "severity": "critical"},
    {"name": "battery-hot", "channel": "thermal.battery_temp_c", "operator": ">", "threshold": 45},
    {"name": "fault-protection", "channel": "obc.fdir_latched", "operator": "==", "threshold": 1,
     "severity": "critical"},
    {"name": "storage-full", "channel": "obc.storage_used_pct", "operator": ">=", "threshold": 90},
    {"name": "soc-dropping", "kind": "rateOfChange", "channel": "power.battery_soc_pct",
     "operator": ">", "threshold": 0.1, "windowSeconds": 60},
    {"name": "wheel-fast", "channel": "adcs.wheel_x_rpm", "operator": ">", "threshold": 6000,
     "forSeconds": 10},
    {"name": "pointing", "channel": "adcs.pointing_error_deg", "operator": ">", "threshold": 5,
     "forSeconds": 60},
    {"name": "radio-down", "channel": "comms.radio_ok", "operator": "==", "threshold": 0,
     "forSeconds": 30},
    {"name": "cpu-busy", "channel": "obc.cpu_load_pct", "operator": ">", "threshold": 95},
    {"name": "silent", "kind": "stale", "staleSeconds": 120},
]  # fmt: skip


def _template() -> dict[str, Any]:
    spec = SatelliteSpec.model_validate(
        {"missionRef": {"name": "bench"}, "tle": {"line1": ISS_L1, "line2": ISS_L2}}
    )
    return Spacecraft("sat-000", spec, start=T0_NS).telemetry()


def telemetry(satellites: int, seconds: int, *, start_s: int = 0) -> list[KafkaRecord]:
    """`satellites` × `seconds` samples at 1 Hz, interleaved as Kafka would deliver them."""
    template = _template()
    out = []
    offset = 0
    for t in range(start_s, start_s + seconds):
        for i in range(satellites):
            message = dict(template)
            message["satellite"] = f"sat-{i:03d}"
            message["time"] = format_time_ns(T0_NS + t * S)
            phase = 2 * math.pi * (t / 1200 + i / satellites)
            message["power"] = {**template["power"], "battery_soc_pct": 50 + 40 * math.sin(phase)}
            out.append(
                KafkaRecord(
                    topic=TOPIC,
                    partition=i % 3,
                    offset=offset,
                    key=message["satellite"].encode(),
                    value=encode(message),
                    timestamp_ms=(T0_NS + t * S) // 1_000_000,
                )
            )
            offset += 1
    return out


class MemoryStore(AlertStore):
    """The alert table as a dict: the same reads and conditional writes, no I/O."""

    def __init__(self) -> None:
        super().__init__(client=None, table="memory")
        self.rules: dict[str, RuleItem] = {}
        self.sats: dict[str, SatelliteItem] = {}
        self.writes = 0
        self._lock = threading.Lock()

    def load(self, mission: str, satellites: Any, rules: Any) -> Any:
        names = list(rules)
        sats = {s: self.sats.get(s, SatelliteItem(satellite=s)) for s in satellites}
        items = {
            rule_key(s, r): self.rules.get(rule_key(s, r), RuleItem(satellite=s, rule=r))
            for s in sats
            for r in names
        }
        return sats, items

    def save_rule(
        self,
        mission: str,
        item: RuleItem,
        state: RuleState,
        *,
        pending: list[Transition],
        attributes: Any,
    ) -> int:
        with self._lock:  # the handler writes several satellites' items at once
            self.writes += 1
        version = item.version + 1
        self.rules[item.key] = RuleItem(
            satellite=item.satellite, rule=item.rule, state=state, version=version,
            pending=list(pending), attributes=dict(attributes),
        )  # fmt: skip
        return version

    def settle(self, mission: str, *, cleared: Any, watermarks: Any) -> None:
        for key, _ in cleared:
            self.rules[key].pending = []
        for sat in watermarks:
            self.writes += 1
            self.sats[sat.satellite] = sat


class CountingSns:
    def __init__(self) -> None:
        self.published = 0

    def publish_batch(self, **kwargs: Any) -> dict[str, Any]:
        entries = kwargs["PublishBatchRequestEntries"]
        self.published += len(entries)
        return {"Successful": [{"Id": e["Id"], "MessageId": "m"} for e in entries], "Failed": []}


def settings(**extra: Any) -> AlertsSettings:
    return AlertsSettings.model_validate(
        {
            "alerts_topic_arn": "arn:aws:sns:us-east-1:000000000000:bench",
            "alerts_missions": {MISSION: {"rules": RULES, "apiUrl": "http://api"}},
            **extra,
        }
    )


def run_memory(
    variant: str, batches: list[list[KafkaRecord]], *, bootstrap: str = "k:9092"
) -> dict[str, Any]:
    """One run of (a): every batch through parse + process, CPU time measured."""
    processor = AlertsProcessor(
        settings(alerts_validate="full" if variant == "validate-full" else "read"),
        dynamodb=None,
        sns=None,
    )
    store, sns = MemoryStore(), CountingSns()
    processor.store = store
    processor.notifier.client = sns
    parse = events.parse_kafka_event_powertools if variant == "powertools" else parse_kafka_event
    built = [build_kafka_event(b, bootstrap_servers=bootstrap) for b in batches]
    # As the handler's cold start does (handler._processor); this also freezes the bench's own
    # input, which a Lambda's heap does not hold at all.
    gc.freeze()
    records = transitions = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for event in built:
        result = processor.process(parse(event), now=time.time())
        records += sum(len(g) for g in event["records"].values())
        transitions += len(result.transitions)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {
        "variant": variant,
        "records": records,
        "cpu_s": round(cpu, 3),
        "wall_s": round(wall, 3),
        "records_per_cpu_s": round(records / cpu),
        "transitions": transitions,
        "published": sns.published,
        "item_writes": store.writes,
    }


def run_moto(batches: list[list[KafkaRecord]]) -> dict[str, Any]:
    """(b): the handler with boto3 against a moto server started for the run."""
    import urllib.request

    import boto3

    port = 5000 + os.getpid() % 1000
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        kw = {"endpoint_url": endpoint, "region_name": "us-east-1",
              "aws_access_key_id": "bench", "aws_secret_access_key": "bench"}  # fmt: skip
        ddb, sns, sqs = (boto3.client(s, **kw) for s in ("dynamodb", "sns", "sqs"))
        name = f"bench-{uuid.uuid4().hex[:8]}"
        AlertStore(ddb, name).ensure_table()
        topic = sns.create_topic(Name=name)["TopicArn"]
        queue = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn["Attributes"]["QueueArn"])
        calls: dict[str, int] = {}

        def count(event_name: str, **_: Any) -> None:
            op = event_name.split(".")[-1]
            calls[op] = calls.get(op, 0) + 1

        ddb.meta.events.register("before-call.dynamodb", count)
        sns.meta.events.register("before-call.sns", count)
        processor = AlertsProcessor(
            settings(alerts_table=name, alerts_topic_arn=topic), dynamodb=ddb, sns=sns
        )
        built = [build_kafka_event(b, bootstrap_servers="k:9092") for b in batches]
        records = transitions = 0
        cpu0, wall0 = time.process_time(), time.perf_counter()
        batch_s = []
        for event in built:
            t = time.perf_counter()
            result = processor.process(parse_kafka_event(event), now=time.time())
            batch_s.append(time.perf_counter() - t)
            records += sum(len(g) for g in event["records"].values())
            transitions += len(result.transitions)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        return {
            "records": records,
            "batches": len(built),
            "wall_s": round(wall, 3),
            "records_per_wall_s": round(records / wall),
            "handler_cpu_s": round(cpu, 3),
            "batch_median_s": round(statistics.median(batch_s), 3),
            "transitions": transitions,
            "aws_calls": calls,
        }
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a loaded machine: do not lose the results for it
            server.kill()
            server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer records, 3 runs")
    args = parser.parse_args()
    satellites, batch_records = 100, 10_000
    seconds = 300 if args.quick else 1200  # 30 000 or 120 000 records
    runs = 3 if args.quick else 5
    records = telemetry(satellites, seconds)
    batches = [records[i : i + batch_records] for i in range(0, len(records), batch_records)]
    memory = []
    for run in range(runs):
        for variant in ("ours", "validate-full", "powertools"):
            result = {"run": run + 1, **run_memory(variant, batches)}
            print(json.dumps(result), flush=True)
            memory.append(result)
    moto_records = telemetry(satellites, 60 if args.quick else 120)
    moto_batches = [moto_records[i : i + 1000] for i in range(0, len(moto_records), 1000)]
    moto = run_moto(moto_batches)
    print(json.dumps(moto), flush=True)
    write(
        {
            "benchmark": "alerts_handler",
            "machine": {**machine(), "load_average_1m": os.getloadavg()[0]},
            "setup": {"satellites": satellites, "rules": len(RULES), "batch_records": batch_records,
                      "records_per_run": len(records), "runs": runs},
            "memory": memory,
            "moto": moto,
        }
    )  # fmt: skip


def write(result: dict[str, Any]) -> None:
    summary = {}
    for variant in ("ours", "validate-full", "powertools"):
        rates = [r["records_per_cpu_s"] for r in result["memory"] if r["variant"] == variant]
        summary[variant] = {
            "median": round(statistics.median(rates)),
            "min": min(rates),
            "max": max(rates),
        }
    result["summary"] = summary
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "alerts_handler.json").write_text(json.dumps(result, indent=2) + "\n")
    m, setup, moto = result["machine"], result["setup"], result["moto"]
    lines = [
        "# Alerts handler throughput",
        "",
        f"{setup['satellites']} satellites at 1 Hz, {setup['rules']} rules (every kind: threshold "
        "with hold and hysteresis, rateOfChange, stale), Kafka events of "
        f"{setup['batch_records']} records, {setup['records_per_run']} records per run, "
        f"{setup['runs']} runs (`bench/alerts_handler.py`).",
        "",
        f"Commit {m['commit']}. Machine: {m['cpus']} CPUs shared with other work, load average "
        f"(1 min) {m['load_average_1m']:.2f} at the end of the run.",
        "",
        "## (a) Handler with state in memory: records per CPU-second (= per core)",
        "",
        "`AlertsProcessor.process` on events from `build_kafka_event`; DynamoDB and SNS replaced "
        "by in-memory stand-ins (no I/O), so this is the handler's own CPU. Target ≥ 50 000.",
        "",
        "| Variant | median | min | max |",
        "| --- | --- | --- | --- |",
    ]
    names = {
        "ours": "as deployed (our event parser, header + channels read checked)",
        "validate-full": "MPCS_ALERTS_VALIDATE=full (every channel checked)",
        "powertools": "event parsed by powertools' pydantic models instead",
    }
    for variant, s in summary.items():
        lines.append(f"| {names[variant]} | {s['median']} | {s['min']} | {s['max']} |")
    first = next(r for r in result["memory"] if r["variant"] == "ours")
    lines += [
        "",
        f"Per run: {first['transitions']} transitions notified, {first['item_writes']} item writes "
        f"for {first['records']} records (only changed items and one watermark per satellite and "
        "batch are written).",
        "",
        "| Run | Variant | records/CPU-s | CPU s | wall s | transitions | item writes |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in result["memory"]:
        lines.append(
            f"| {r['run']} | {r['variant']} | {r['records_per_cpu_s']} | {r['cpu_s']} | "
            f"{r['wall_s']} | {r['transitions']} | {r['item_writes']} |"
        )
    lines += [
        "",
        "## (b) End to end against moto's server (measures moto as much as us)",
        "",
        f"{moto['records']} records in {moto['batches']} events of 1000, boto3 over HTTP to a "
        "local moto server (DynamoDB, SNS with an SQS subscriber), one process after another.",
        "",
        f"- {moto['records_per_wall_s']} records/s wall ({moto['wall_s']} s; the handler's own "
        f"CPU {moto['handler_cpu_s']} s, the rest is moto); median batch {moto['batch_median_s']}"
        " s.",
        f"- {moto['transitions']} transitions; AWS calls: "
        + ", ".join(f"{k} {v}" for k, v in sorted(moto["aws_calls"].items()))
        + ".",
        "",
    ]
    (RESULTS / "alerts_handler.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
