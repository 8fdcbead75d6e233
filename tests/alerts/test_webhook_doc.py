"""docs/webhooks.md's verification example accepts what the platform signs, and refuses a forgery."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alerts.notify.channels import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

DOC = Path(__file__).parents[2] / "docs" / "webhooks.md"


def _verify() -> Callable[..., bool]:
    code = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert len(code) == 1, "docs/webhooks.md has one Python example"
    namespace: dict[str, Any] = {}
    exec(compile(code[0], str(DOC), "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace["verify"]  # type: ignore[no-any-return]


def test_the_documented_verification_accepts_the_platforms_signature_and_refuses_forgeries() -> None:
    verify = _verify()
    body = b'{"alert": {"id": 1}, "delivery_id": 7, "sent_at": 1}'
    now = str(int(time.time()))
    headers = {SIGNATURE_HEADER: sign("channel-secret", body), TIMESTAMP_HEADER: now, DELIVERY_HEADER: "7"}
    assert verify("channel-secret", body, headers)
    assert not verify("another-secret", body, headers)
    assert not verify("channel-secret", body.replace(b"1}", b"2}"), headers)
    assert not verify("channel-secret", body, {**headers, TIMESTAMP_HEADER: str(int(time.time()) - 3600)})
    assert not verify("channel-secret", body, {TIMESTAMP_HEADER: now})
