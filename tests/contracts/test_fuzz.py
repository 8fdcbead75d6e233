"""Fuzz the decoder: no input may make it raise (decode_strict has no safety net, so a bug shows here).

Time per message is measured by ``python -m bench.fuzz`` (speed lives in bench/, not in tests).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from eldercare.contracts import Decoded, Rejection
from eldercare.contracts.codec import decode_strict
from tests.contracts.fuzz import ROOT, payloads, topics


@pytest.mark.slow  # 1,500 hypothesis examples
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(topics, payloads)
def test_decode_never_raises_on_any_topic_and_bytes(topic: str, payload: bytes) -> None:
    result = decode_strict(topic, payload, root=ROOT)
    assert isinstance(result, Decoded | Rejection)
    if isinstance(result, Rejection):
        assert result.detail
        assert result.topic == topic
