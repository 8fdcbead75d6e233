"""Hostile inputs for the decoder: arbitrary topics and bytes, JSON of any shape, valid messages mutated.

Shared by the hypothesis test (tests/contracts/test_fuzz.py) and the fuzz benchmark (bench/fuzz.py).
"""

from __future__ import annotations

import json

from hypothesis import strategies as st

from eldercare.contracts import MessageKind, encode
from tests.contracts.strategies import home_ids, messages

ROOT = "eldercare"
_LEVELS = st.one_of(st.sampled_from([ROOT, "v1", "v2", "home-0001", "+", "#", "", "$SYS"]), st.text(max_size=12))
topics = st.one_of(
    st.builds(lambda home, kind: f"{ROOT}/v1/{home}/{kind}", home_ids, st.sampled_from([k.value for k in MessageKind])),
    st.lists(_LEVELS, min_size=0, max_size=7).map("/".join),
    st.text(max_size=80),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=30,
)


def _dumps(value: object) -> bytes:
    return json.dumps(value).encode("utf-8", "surrogatepass")


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid message's bytes with a few bytes replaced, inserted or deleted."""
    data = bytearray(encode(ROOT, draw(messages))[1])
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        at = draw(st.integers(min_value=0, max_value=len(data)))
        action = draw(st.sampled_from(["replace", "insert", "delete"]))
        chunk = draw(
            st.binary(min_size=1, max_size=8) | st.sampled_from([b"[" * 1200, b"9" * 5000, b"\\ud800", b"1e999", b"\x00"])
        )
        if action == "replace":
            data[at : at + len(chunk)] = chunk
        elif action == "insert":
            data[at:at] = chunk
        else:
            del data[at : at + len(chunk)]
    return bytes(data)


payloads = st.one_of(st.binary(max_size=2048), json_values.map(_dumps), mutated())
