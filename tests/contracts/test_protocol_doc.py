"""docs/protocol.md is generated from the models; this fails when the two drift apart."""

from __future__ import annotations

from pathlib import Path

from eldercare.contracts.docs import render
from eldercare.contracts.payloads import Metric, ReadingBatch

DOC = Path(__file__).parents[2] / "docs" / "protocol.md"


def test_protocol_doc_matches_the_models() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), "run: eldercare contracts docs --write docs/protocol.md"


def test_protocol_doc_is_complete() -> None:
    text = render()
    for needle in ("last will", "pattern read eldercare/v1/%u/config", "dead-letter", "### `readings`", "### `config`"):
        assert needle in text
    for metric in Metric:
        assert f"`{metric.value}`" in text
    assert '"title": "ReadingBatch"' in text
    assert ReadingBatch.__doc__ is not None
