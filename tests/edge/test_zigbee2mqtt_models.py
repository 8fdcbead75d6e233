"""Nineteen models that care programmes install, as zigbee2mqtt publishes them (tests/edge/z2m_models.py):
each maps to the contract exactly, or is refused with its reason, and a running agent carries on."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import TypeAdapter

from edge.drivers.zigbee2mqtt import RejectedError, Zigbee2MqttDriver, load_device_map, map_state, parse_state
from edge.model import DeviceRef
from eldercare.config import Settings, parse_mqtt_url
from eldercare.contracts.payloads import DeviceKind, Event, Reading, Room
from eldercare.mqtt import connect
from tests.edge.helpers import Collector, agent_config, make_agent, running, wait_until
from tests.edge.z2m_models import BROKEN, MODELS, Model

_EVENT: TypeAdapter[Event] = TypeAdapter(Event)
TS = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _ref(model: Model) -> DeviceRef:
    room = model.entry.get("room")
    return DeviceRef(model.entry["device"], DeviceKind(model.entry["kind"]), Room(room) if room else None)


def _payload(model: Model) -> bytes:
    return model.state if isinstance(model.state, bytes) else json.dumps(model.state).encode()


def test_the_corpus_spans_every_mapped_kind_and_fifteen_models() -> None:
    assert len({m.model for m in MODELS}) >= 15
    kinds = {m.entry["kind"] for m in MODELS}
    assert kinds >= {"motion", "door", "temperature", "sos_button", "plug", "smoke", "gas", "co", "water_leak", "presence"}


@pytest.mark.parametrize("model", MODELS, ids=[m.model for m in MODELS])
def test_each_model_maps_to_the_contract(model: Model) -> None:
    result = map_state(_ref(model), parse_state(_payload(model)), {})
    want = model.expected
    assert result.readings == want.readings
    assert result.events == want.events
    assert (result.battery_pct, result.signal_lqi, result.battery_low, result.tamper) == (
        want.battery_pct, want.signal_lqi, want.battery_low, want.tamper,
    )  # fmt: skip
    assert result.unmapped == want.unmapped
    # What it maps to is valid in the contract as it stands.
    ref = _ref(model)
    for metric, value in result.readings:
        Reading(device=ref.id, kind=ref.kind, seq=1, ts=TS, metric=metric, value=value)
    for event in result.events:
        _EVENT.validate_python({**event, "device": ref.id, "kind": ref.kind, "seq": 1, "ts": TS})


@pytest.mark.parametrize("model", [m for m in BROKEN if m.expected.rejected in {"wrong_type", "not_json", "not_an_object"}],
                         ids=lambda m: m.model)  # fmt: skip
def test_a_malformed_state_is_refused_with_its_reason(model: Model) -> None:
    with pytest.raises(RejectedError) as caught:
        map_state(_ref(model), parse_state(_payload(model)), {})
    assert caught.value.reason == model.expected.rejected


async def test_a_running_agent_maps_the_whole_corpus_refuses_the_broken_and_carries_on(
    edge_settings: Callable[..., Settings], home_id: str, topic_root: str, tmp_path: Path
) -> None:
    settings = edge_settings()
    map_file = tmp_path / "devices.json"
    map_file.write_text(json.dumps({m.name: m.entry for m in MODELS}))
    base = f"{topic_root}-z2m"
    driver = Zigbee2MqttDriver(
        endpoint=parse_mqtt_url(settings.mqtt_url), mqtt=settings.mqtt, base_topic=base,
        devices=load_device_map(map_file), client_id=f"z2m-{home_id}",
    )  # fmt: skip
    agent = make_agent(agent_config(settings, home_id, tmp_path / "q.sqlite3", heartbeat_interval_s=0.2), driver)
    sent = [*BROKEN, *MODELS]  # the garbage first: the good states after it must all arrive
    async with Collector(settings, home_id) as collector, running(agent):
        await wait_until(driver.subscribed.is_set)
        async with connect(settings, client_id=f"z2m-pub-{home_id}") as z2m:
            for model in sent:
                await z2m.publish(f"{base}/{model.name}", _payload(model), qos=1)
        expected_events = sum(len(m.expected.events) for m in MODELS)
        expected_readings = sum(len(m.expected.readings) for m in MODELS)
        await collector.wait_for(lambda: len(collector.events()) == expected_events)
        await collector.wait_for(lambda: sum(r.metric.value != "battery_pct" for r in collector.readings()) == expected_readings)
    refused = Counter(m.expected.rejected for m in BROKEN if m.expected.rejected)
    assert driver.rejected == refused
    assert driver.accepted == len(sent) - sum(refused.values())
    got = Counter((r.device, r.metric, r.value) for r in collector.readings() if r.metric.value != "battery_pct")
    assert got == Counter((m.entry["device"], metric, value) for m in MODELS for metric, value in m.expected.readings)
    events = Counter((e.device, e.type, getattr(e, "state", None) or getattr(e, "press", None)) for e in collector.events())
    assert events == Counter(
        (m.entry["device"], str(e["type"]), e.get("state") or e.get("press")) for m in MODELS for e in m.expected.events
    )
