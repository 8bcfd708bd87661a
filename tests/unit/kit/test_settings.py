"""The settings base: `MPCS_*` variables shared by every process, errors that name them."""

from __future__ import annotations

import pytest
from utils.doctests import run_doctests

from mpcs.core import names
from mpcs.core.names import Topic
from mpcs.kit import settings as settings_module
from mpcs.kit.settings import MissionSettings, SettingsError, load_settings


def test_doctests() -> None:
    run_doctests(settings_module)


def test_shared_fields_come_from_mpcs_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MPCS_KAFKA_BOOTSTRAP", "k:9092")
    monkeypatch.setenv("MPCS_NAMESPACE", "ops")
    monkeypatch.setenv("MPCS_MISSION", "wildfire")
    monkeypatch.setenv("MPCS_LOG_LEVEL", "DEBUG")
    monkeypatch.delenv("MPCS_METRICS_PORT", raising=False)
    s = load_settings(MissionSettings)
    assert (s.kafka_bootstrap, s.log_level) == ("k:9092", "DEBUG")
    assert s.metrics_port == names.METRICS_PORT  # the port the operator's probes use
    assert s.topic(Topic.ACKS) == "mpcs.ops.wildfire.acks"
    assert s.consumer_group("ingest") == "mpcs.ops.wildfire.ingest"


def test_every_bad_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("MPCS_KAFKA_BOOTSTRAP", "MPCS_NAMESPACE", "MPCS_MISSION"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MPCS_LOG_LEVEL", "LOUD")
    with pytest.raises(SettingsError) as info:
        load_settings(MissionSettings)
    message = str(info.value)
    for var in ("MPCS_KAFKA_BOOTSTRAP", "MPCS_NAMESPACE", "MPCS_MISSION", "MPCS_LOG_LEVEL"):
        assert var in message
    assert "'DEBUG', 'INFO', 'WARNING' or 'ERROR'" in message
