"""The webhook receiver of a chaos run: every notification the alert engines POST, signature checked.

It stands in for the care centre's system: one URL path per notification channel, each with its
channel's secret (tests.alerts.support.WebhookReceiver answers 200 and keeps every POST, duplicates
included: delivery is at least once, and the run counts how often a notification arrived twice).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.alerts.support import Received, WebhookReceiver


@dataclass(frozen=True)
class Notification:
    channel: str
    delivery_id: int
    alert_id: int
    home_id: str
    kind: str
    purpose: str
    level: int
    received: float  # UNIX time
    signature_ok: bool


def channel_url(receiver: WebhookReceiver, channel: str) -> str:
    return f"http://127.0.0.1:{receiver.port}/{channel}"


def notifications(received: list[Received], secrets: dict[str, str]) -> tuple[list[Notification], int]:
    """Every POST as a notification (signature checked with its channel's secret); and how many were malformed."""
    found, malformed = [], 0
    for post in list(received):
        channel = post.path.strip("/")
        try:
            data = post.json()
            # A notice about the platform itself (alerts/platform.py) names an incident, not an alert.
            notice = data.get("notice")
            alert: dict[str, Any] = (
                data["alert"] if notice is None else {"id": 0, "home_id": "", "kind": f"platform:{notice['reason']}"}
            )
            note = Notification(
                channel=channel,
                delivery_id=int(data["delivery_id"]),
                alert_id=int(alert["id"]),
                home_id=str(alert["home_id"]),
                kind=str(alert["kind"]),
                purpose=str(data["purpose"]),
                level=int(data["escalation_level"]),
                received=post.at,
                signature_ok=channel in secrets and post.signature_ok(secrets[channel]),
            )
        except (ValueError, KeyError, TypeError):
            malformed += 1
            continue
        found.append(note)
    return found, malformed
