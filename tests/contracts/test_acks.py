"""The commit acknowledgement's pieces: its size bound, ranges, and reading numbers out of rejected bytes."""

from __future__ import annotations

import json
from datetime import timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from eldercare.contracts import Decoded, decode, encode
from eldercare.contracts.acks import publisher_home, ranges, salvage_numbers
from eldercare.contracts.codec import MAX_PAYLOAD_BYTES
from eldercare.contracts.payloads import LATEST_TS, MAX_ACK_RANGES, CommitAck, DeadLetteredRange, SeqRange

TS = (LATEST_TS - timedelta(microseconds=1)).astimezone(timezone(timedelta(hours=-9, minutes=-30)))


def test_the_largest_acknowledgement_fits() -> None:
    device, seq = "D" * 64, 2**63 - 1
    ack = CommitAck(
        home_id="h" * 64,
        ts=TS,
        committed=[SeqRange(device=device, first=seq, last=seq)] * MAX_ACK_RANGES,
        dead_lettered=[DeadLetteredRange(device=device, first=seq, last=seq, reason="r" * 32)] * MAX_ACK_RANGES,
    )
    topic, payload = encode("eldercare", ack)
    assert len(payload) <= MAX_PAYLOAD_BYTES
    assert isinstance(decode(topic, payload), Decoded)


def test_ranges_merge_consecutive_numbers_per_device() -> None:
    numbers = [("b", 3), ("a", 5), ("a", 1), ("a", 2), ("a", 3), ("b", 4), ("a", 2)]
    assert ranges(numbers) == [("a", 1, 3), ("a", 5, 5), ("b", 3, 4)]


def test_a_range_ends_after_it_starts() -> None:
    topic, payload = (
        "eldercare/v1/home-1/ack",
        b'{"home_id":"home-1","ts":"2026-03-01T00:00:00Z","committed":[{"device":"d","first":5,"last":4}]}',
    )
    assert not isinstance(decode(topic, payload), Decoded)


def test_the_numbers_of_a_rejected_message_are_read_leniently() -> None:
    payload = json.dumps({
        "home_id": "home-1",
        "readings": [{"device": "t", "seq": 7, "ts": "yesterday"}, {"device": "t", "seq": "8"}, {"seq": 9}, 12],
        "surprise": True,
    }).encode()  # fmt: skip
    assert salvage_numbers(payload) == [("t", 7)]
    assert salvage_numbers(b"[" * 1000) == []
    assert salvage_numbers(b'{"events": [{"device": "s", "seq": -1}, {"device": "s", "seq": 1e3}]}') == []


def test_the_publisher_is_the_home_at_the_fixed_level() -> None:
    assert publisher_home("root/v1/home-1/readings") == "home-1"
    assert publisher_home("root/v1/home-1/nonsense") == "home-1"
    assert publisher_home("root/v1/NOT A HOME/readings") is None
    assert publisher_home("root") is None


@given(st.binary(max_size=2000))
def test_salvage_never_raises(payload: bytes) -> None:
    for device, seq in salvage_numbers(payload):
        assert isinstance(device, str)
        assert isinstance(seq, int)


@given(
    st.recursive(
        st.none() | st.integers() | st.text(max_size=5),
        lambda inner: st.lists(inner) | st.dictionaries(st.text(max_size=8), inner),
    )
)
def test_salvage_never_raises_on_any_json(document: object) -> None:
    salvage_numbers(json.dumps({"readings": [document], "events": document}).encode())
