"""The contract codec: every kind round-trips; every kind of bad input gets its own reason."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings

from eldercare.contracts import Decoded, MessageKind, Rejection, RejectReason, Topic, decode, encode
from eldercare.contracts.codec import MAX_JSON_DEPTH, MAX_NUMBER_DIGITS, MAX_PAYLOAD_BYTES, decode_strict
from eldercare.contracts.examples import HOME, examples
from eldercare.contracts.payloads import Message
from eldercare.contracts.topics import TopicError, acl_patterns, shared_subscription, subscription
from tests.contracts.strategies import messages

ROOT = "eldercare"


@pytest.mark.slow  # 300 hypothesis examples
@settings(max_examples=300)
@given(messages)
def test_decode_encode_round_trip(message: Message) -> None:
    topic, payload = encode(ROOT, message)
    result = decode(topic, payload, root=ROOT)
    assert isinstance(result, Decoded), result
    assert result.message == message
    assert result.topic.home_id == message.home_id


@pytest.mark.parametrize("kind", list(MessageKind))
def test_examples_are_valid(kind: MessageKind) -> None:
    message = examples()[kind]
    topic, payload = encode(ROOT, message)
    assert Topic.parse(topic).kind is kind
    assert isinstance(decode(topic, payload), Decoded)


def _reading_doc(**changes: object) -> bytes:
    doc = json.loads(encode(ROOT, examples()[MessageKind.READINGS])[1])
    doc["readings"][0].update(changes)
    return json.dumps(doc).encode()


READINGS_TOPIC = f"{ROOT}/v1/{HOME}/readings"

BAD_SAMPLES = [
    pytest.param(READINGS_TOPIC, b"", RejectReason.PAYLOAD_EMPTY, "empty", id="empty"),
    pytest.param(READINGS_TOPIC, b"{" + b" " * MAX_PAYLOAD_BYTES + b"}", RejectReason.PAYLOAD_TOO_LARGE, "bytes", id="oversize"),
    pytest.param(READINGS_TOPIC, b'{"home_id": "\xff\xfe"}', RejectReason.NOT_UTF8, "UTF-8", id="not-utf8"),
    pytest.param(READINGS_TOPIC, b'{"home_id": ', RejectReason.NOT_JSON, "line 1", id="not-json"),
    pytest.param(READINGS_TOPIC, b"[1, 2]", RejectReason.NOT_AN_OBJECT, "array", id="not-object"),
    pytest.param(READINGS_TOPIC, _reading_doc(colour="red"), RejectReason.UNKNOWN_FIELD, "readings.0.colour", id="unknown-field"),
    pytest.param(READINGS_TOPIC, _reading_doc(seq="seven"), RejectReason.WRONG_TYPE, "readings.0.seq", id="wrong-type"),
    pytest.param(READINGS_TOPIC, _reading_doc(value="high"), RejectReason.WRONG_TYPE, "readings.0.value", id="string-value"),
    # Strict types: once coerced ("12" became 12, true became 1.0), now refused as the schema says.
    pytest.param(READINGS_TOPIC, _reading_doc(seq="12"), RejectReason.WRONG_TYPE, "readings.0.seq", id="numeric-string-seq"),
    pytest.param(READINGS_TOPIC, _reading_doc(seq=12.0), RejectReason.WRONG_TYPE, "readings.0.seq", id="float-seq"),
    pytest.param(READINGS_TOPIC, _reading_doc(value=True), RejectReason.WRONG_TYPE, "readings.0.value", id="boolean-value"),
    pytest.param(READINGS_TOPIC, _reading_doc(value="1.0"), RejectReason.WRONG_TYPE, "readings.0.value", id="numeric-string-value"),
    pytest.param(READINGS_TOPIC, _reading_doc(ts=1772348400), RejectReason.WRONG_TYPE, "readings.0.ts", id="epoch-ts"),
    pytest.param(READINGS_TOPIC, _reading_doc(ts="1900-01-01T00:00:00Z"), RejectReason.INVALID_VALUE, "readings.0.ts", id="ts-1900"),
    pytest.param(READINGS_TOPIC, _reading_doc(ts="2100-01-01T00:00:00Z"), RejectReason.INVALID_VALUE, "readings.0.ts", id="ts-2100"),
    pytest.param(READINGS_TOPIC, _reading_doc(metric="mood"), RejectReason.INVALID_VALUE, "readings.0.metric", id="unknown-metric"),
    pytest.param(READINGS_TOPIC, _reading_doc(value=7), RejectReason.INVALID_VALUE, "out of range", id="out-of-range"),
    pytest.param(READINGS_TOPIC, _reading_doc(seq=-1), RejectReason.INVALID_VALUE, "readings.0.seq", id="negative-seq"),
    pytest.param(READINGS_TOPIC, _reading_doc(ts="2026-01-01T00:00:00"), RejectReason.INVALID_VALUE, "timezone", id="naive-ts"),
    pytest.param(READINGS_TOPIC, b'{"home_id": "home-0001", "readings": []}', RejectReason.INVALID_VALUE, "readings", id="no-readings"),
    pytest.param(READINGS_TOPIC, b'{"home_id": "home-0001"}', RejectReason.MISSING_FIELD, "readings", id="missing"),
    pytest.param(READINGS_TOPIC, _reading_doc(value=float("nan")).replace(b"NaN", b"NaN"), RejectReason.INVALID_VALUE, "finite",
                 id="nan"),
    pytest.param(f"{ROOT}/v1/home-0002/readings", _reading_doc(), RejectReason.HOME_MISMATCH, "contradicts", id="home-mismatch"),
    pytest.param(f"{ROOT}/v1/readings", _reading_doc(), RejectReason.TOPIC_INVALID, "4 levels", id="topic-too-short"),
    pytest.param(f"{ROOT}/{HOME}/v1/readings", _reading_doc(), RejectReason.TOPIC_INVALID, "version", id="topic-wrong-level"),
    pytest.param(f"{ROOT}/v2/{HOME}/readings", _reading_doc(), RejectReason.TOPIC_INVALID, "version", id="topic-v2"),
    pytest.param(f"{ROOT}/v1/{HOME}/gossip", _reading_doc(), RejectReason.TOPIC_INVALID, "kind", id="topic-unknown-kind"),
    pytest.param(f"{ROOT}/v1/Home!/readings", _reading_doc(), RejectReason.TOPIC_INVALID, "home id", id="topic-bad-home"),
    pytest.param(f"{ROOT}/v1/{HOME}/events", b'{"home_id": "home-0001", "events": [{"type": "explosion"}]}',
                 RejectReason.WRONG_TYPE, "events.0", id="unknown-event-type"),
]  # fmt: skip


@pytest.mark.parametrize(("topic", "payload", "reason", "detail"), BAD_SAMPLES)
def test_bad_input_is_rejected_with_a_specific_reason(topic: str, payload: bytes, reason: RejectReason, detail: str) -> None:
    result = decode(topic, payload, root=ROOT)
    assert isinstance(result, Rejection)
    assert result.reason is reason, result
    assert detail in result.detail
    assert result.topic == topic


def test_decode_never_raises_on_arbitrary_bytes() -> None:
    for payload in (b"\x00", b"null", b"{}", b'{"home_id": 5}', bytes(range(256)), b'"string"', b"1e999"):
        assert isinstance(decode(READINGS_TOPIC, payload), Rejection)


def test_wrong_root_is_rejected() -> None:
    assert isinstance(decode(READINGS_TOPIC, _reading_doc(), root="other"), Rejection)


def test_topic_helpers() -> None:
    assert subscription(ROOT) == "eldercare/v1/+/+"
    assert subscription(ROOT, MessageKind.EVENTS, home_id=HOME) == f"eldercare/v1/{HOME}/events"
    assert shared_subscription("ingest", "eldercare/v1/+/+") == "$share/ingest/eldercare/v1/+/+"
    assert acl_patterns(ROOT) == [
        "pattern write eldercare/v1/%u/readings",
        "pattern write eldercare/v1/%u/events",
        "pattern write eldercare/v1/%u/status",
        "pattern write eldercare/v1/%u/heartbeat",
        "pattern read eldercare/v1/%u/config",
        "pattern read eldercare/v1/%u/ack",
    ]
    with pytest.raises(TopicError):
        Topic(ROOT, "UPPER", MessageKind.READINGS)


def test_json_nested_a_thousand_deep_is_rejected_not_raised() -> None:
    # ~2 KB on a valid home's readings topic once made json.loads raise RecursionError inside the
    # decoder, which crashed ingest on every redelivery.
    payload = b"[" * 1000 + b"]" * 1000
    result = decode(READINGS_TOPIC, payload, root=ROOT)
    assert isinstance(result, Rejection)
    assert result.reason is RejectReason.NOT_JSON
    assert "nest" in result.detail


def _in_readings(raw: bytes) -> bytes:
    return b'{"home_id": "home-0001", "readings": [' + raw + b"]}"


HOSTILE_SAMPLES = [
    pytest.param(b"[" * 5000, RejectReason.NOT_JSON, "nested deeper", id="deep-unclosed"),
    pytest.param(b'{"a":' * 3000 + b"1" + b"}" * 3000, RejectReason.NOT_JSON, "nested deeper", id="deep-objects"),
    pytest.param(_in_readings(b'{"seq": ' + b"9" * 200_000 + b"}"), RejectReason.NOT_JSON, "digits", id="long-integer"),
    pytest.param(_reading_doc().replace(b'"value": 1.0', b'"value": 1e999999999'), RejectReason.INVALID_VALUE, "finite",
                 id="huge-exponent"),
    pytest.param(_reading_doc().replace(b'"value": 1.0', b'"value": 0.' + b"1" * 200_000), RejectReason.INVALID_VALUE,
                 "readings.0", id="long-fraction"),
    pytest.param(_reading_doc(device="\ud800"), RejectReason.NOT_JSON, "escape", id="lone-surrogate"),
    pytest.param(b'{"home_id": "home-0001", "readings": "\\udc00"}', RejectReason.NOT_JSON, "surrogate", id="lone-low-surrogate"),
    pytest.param(b"\xef\xbb\xbf" + _reading_doc(), RejectReason.NOT_JSON, "line 1", id="byte-order-mark"),
    pytest.param(b'{"home_id": "home-0001\x00"}', RejectReason.NOT_JSON, "control character", id="raw-nul"),
    pytest.param(b"\x80" * 100, RejectReason.NOT_UTF8, "byte 0", id="continuation-bytes"),
    pytest.param(b"   ", RejectReason.NOT_JSON, "EOF", id="blank"),
    pytest.param(b"-", RejectReason.NOT_JSON, "line 1", id="lone-minus"),
    pytest.param(b'"\\u0000"', RejectReason.NOT_AN_OBJECT, "string", id="string-document"),
]  # fmt: skip


@pytest.mark.parametrize(("payload", "reason", "detail"), HOSTILE_SAMPLES)
def test_hostile_payloads_get_a_specific_reason(payload: bytes, reason: RejectReason, detail: str) -> None:
    result = decode_strict(READINGS_TOPIC, payload, root=ROOT)
    assert isinstance(result, Rejection)
    assert (result.reason, detail in result.detail) == (reason, True), result


def test_parser_bounds_are_the_documented_ones() -> None:
    # MAX_JSON_DEPTH and MAX_NUMBER_DIGITS are enforced by pydantic-core; an upgrade that moves them
    # must update the contract (and docs/protocol.md), not change it silently.
    at_limit, beyond = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH, b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1)
    assert decode_strict(READINGS_TOPIC, at_limit).reason is RejectReason.NOT_AN_OBJECT  # type: ignore[union-attr]
    assert decode_strict(READINGS_TOPIC, beyond).reason is RejectReason.NOT_JSON  # type: ignore[union-attr]
    digits = _in_readings(b'{"seq": ' + b"1" * MAX_NUMBER_DIGITS + b"}")
    assert decode_strict(READINGS_TOPIC, digits).reason is RejectReason.MISSING_FIELD  # type: ignore[union-attr]
    longer = digits.replace(b'"seq": 1', b'"seq": 11')
    assert decode_strict(READINGS_TOPIC, longer).reason is RejectReason.NOT_JSON  # type: ignore[union-attr]
