"""Notification texts, in Chinese and English, built when a notification is enqueued (the names of
kinds and severities come from :mod:`eldercare.domain.alerts.catalogue`)."""

from __future__ import annotations

from typing import Any

from eldercare.domain.alerts.catalogue import KINDS, SEVERITY_NAMES

PURPOSE_PREFIX: dict[str, tuple[str, str]] = {
    "opened": ("", ""),
    "reminder": ("Reminder, not yet acknowledged: ", "提醒（尚未确认）："),
    "escalation": ("Escalated, nobody acknowledged in time: ", "升级通知（未及时确认）："),
    "resolved": ("Resolved: ", "已解除："),
}


def build_payload(alert: dict[str, Any], purpose: str, level: int) -> dict[str, Any]:
    """What every channel sends: the alert's facts and a bilingual title and text.

    No names, addresses or notes: staff open the dashboard for those, and a message that leaks
    to a wrong inbox then says little about anyone."""
    entry = KINDS.get(alert["kind"])  # a kind this version does not know (a newer copy wrote it) shows its key
    kind_en, kind_zh = (entry.names.en, entry.names.zh) if entry else (alert["kind"], alert["kind"])
    severity = SEVERITY_NAMES[alert["severity"]]
    pre_en, pre_zh = PURPOSE_PREFIX[purpose]
    home = alert["home_id"]
    return {
        "version": 1,
        "purpose": purpose,
        "escalation_level": level,
        "alert": {
            "id": alert["id"],
            "home_id": home,
            "resident_id": alert["resident_id"],
            "care_centre_id": alert["care_centre_id"],
            "kind": alert["kind"],
            "severity": alert["severity"],
            "explanation_en": alert["explanation_en"],
            "explanation_zh": alert["explanation_zh"],
            "opened_at": alert["opened_at"].isoformat(),
        },
        "title_en": f"{pre_en}[{severity.en.upper()}] {kind_en}, home {home}",
        "title_zh": f"{pre_zh}【{severity.zh}】{kind_zh}，家庭 {home}",
        "text_en": alert["explanation_en"],
        "text_zh": alert["explanation_zh"],
    }


def plain_text(payload: dict[str, Any]) -> tuple[str, str]:
    """(subject, body) for e-mail and IM channels: Chinese first, then English."""
    subject = f"{payload['title_zh']} / {payload['title_en']}"
    if "alert" in payload:
        footer = f"alert #{payload['alert']['id']} · {payload['alert']['opened_at']}"
    else:  # a platform notice (alerts.platform)
        footer = f"platform notice #{payload['notice']['id']} · {payload['notice']['since']}"
    body = f"{payload['title_zh']}\n{payload['text_zh']}\n\n{payload['title_en']}\n{payload['text_en']}\n\n{footer}"
    return subject, body
