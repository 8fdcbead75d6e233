"""Notification texts, in Chinese and English, built when a notification is enqueued."""

from __future__ import annotations

from typing import Any

KIND_NAMES: dict[str, tuple[str, str]] = {
    "fall": ("Fall", "跌倒"),
    "long_lie": ("Long lie after a fall", "跌倒后长时间未起身"),
    "sos": ("SOS button", "紧急呼叫"),
    "inactivity": ("No activity", "长时间无活动"),
    "not_up": ("Not up by the usual time", "未按时起床"),
    "long_absence": ("Out for unusually long", "外出时间过长"),
    "night_wandering": ("Went out at night", "夜间外出未归"),
    "bathroom_dwell": ("Long stay in the bathroom", "卫生间停留过久"),
    "door_left_open": ("Front door left open", "大门未关"),
    "cold_home": ("Cold home", "室内温度过低"),
    "low_battery": ("Low battery", "设备电量低"),
    "device_offline": ("Sensor offline", "传感器离线"),
    "no_motion_sensor": ("No motion sensor: welfare checks off", "无人体传感器：看护检查无法进行"),
    "gateway_offline": ("Gateway offline", "网关离线"),
}
SEVERITY_NAMES: dict[str, tuple[str, str]] = {
    "low": ("LOW", "低"),
    "medium": ("MEDIUM", "中"),
    "high": ("HIGH", "高"),
    "critical": ("CRITICAL", "紧急"),
}
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
    kind_en, kind_zh = KIND_NAMES.get(alert["kind"], (alert["kind"], alert["kind"]))
    sev_en, sev_zh = SEVERITY_NAMES[alert["severity"]]
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
        "title_en": f"{pre_en}[{sev_en}] {kind_en}, home {home}",
        "title_zh": f"{pre_zh}【{sev_zh}】{kind_zh}，家庭 {home}",
        "text_en": alert["explanation_en"],
        "text_zh": alert["explanation_zh"],
    }


def plain_text(payload: dict[str, Any]) -> tuple[str, str]:
    """(subject, body) for e-mail and IM channels: Chinese first, then English."""
    subject = f"{payload['title_zh']} / {payload['title_en']}"
    alert = payload["alert"]
    body = (
        f"{payload['title_zh']}\n{payload['text_zh']}\n\n"
        f"{payload['title_en']}\n{payload['text_en']}\n\n"
        f"alert #{alert['id']} · {alert['opened_at']}"
    )
    return subject, body
