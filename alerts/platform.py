"""Who watches the watcher: the platform's own health, told to care centres and to an outside watchdog.

Every ``platform_check_interval_s`` (wall time) the engine reads a few figures from the database
and judges three degradations, each of which means that alerts about residents may be late:

- ``ingest_stalled``: gateways are online, but nothing from any home has been committed for
  ``platform_stale_after_s`` (ingest or the broker is down; gateways heartbeat every 5 minutes);
- ``gateways_offline``: at least ``platform_offline_share`` of the gateways, and at least
  ``platform_offline_min`` of them, are offline (a broker, network or power outage);
- ``inbox_delayed``: an event (a fall, an SOS) has waited ``platform_inbox_delay_s`` to be judged.

A degradation opens a ``platform_incidents`` row (one per reason, whichever copy sees it first) and
enqueues a bilingual notice to every care centre's duty channels: alerts may be delayed, call the
residents at risk. When it has been clear for ``clear_hold_s`` the incident closes with a notice
that alerts are back to normal.

A dead platform cannot say anything, so an outside service must notice the silence: after each
check that finds the platform healthy and this copy's periodic pass on time, the engine pings
``heartbeat_url`` (healthchecks.io, Uptime Kuma, Cronitor or any dead-man's switch that alarms when
pings stop). A degraded platform withholds its pings too, so the outside watchdog alarms either way.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from eldercare import logs
from eldercare.config import AlertsSettings

log = logs.get("alerts")

_READ = """
SELECT (SELECT count(*) FROM home_state WHERE gateway_state = 'online'),
       (SELECT count(*) FROM home_state WHERE gateway_state = 'offline'),
       (SELECT max(updated_at) FROM home_state),
       (SELECT min(received_at) FROM alert_inbox)
"""
_OPEN = """
INSERT INTO platform_incidents (reason, opened_at, details) VALUES (%s, %s, %s)
ON CONFLICT (reason) WHERE closed_at IS NULL DO NOTHING
RETURNING id, opened_at
"""
# Still degraded: the clear period (if one had started) is over.
_STILL = "UPDATE platform_incidents SET clear_since = NULL WHERE reason = %s AND closed_at IS NULL AND clear_since IS NOT NULL"
_CLEARING = "UPDATE platform_incidents SET clear_since = %s WHERE reason = %s AND closed_at IS NULL AND clear_since IS NULL"
_CLOSE = """
UPDATE platform_incidents SET closed_at = %s
 WHERE reason = %s AND closed_at IS NULL AND clear_since <= %s
RETURNING id, opened_at
"""
_DUTY_CHANNELS = """
SELECT n.id, c.timezone FROM notification_channels n JOIN care_centres c ON c.id = n.care_centre_id
 WHERE n.tier = 0 AND n.enabled ORDER BY n.id
"""
_ENQUEUE = """
INSERT INTO notification_outbox (incident_id, channel_id, purpose, escalation_level, dedupe_key, payload,
                                 next_attempt_at, created_at)
VALUES (%s, %s, %s, 0, %s, %s, %s, %s)
ON CONFLICT (dedupe_key) DO NOTHING
"""
REASONS = ("ingest_stalled", "gateways_offline", "inbox_delayed")


@dataclass(frozen=True)
class Reading:
    """What the health check reads from the database."""

    online: int
    offline: int
    last_data_at: datetime | None  # the last commit ingest made for any home
    oldest_inbox_at: datetime | None  # the oldest event or status still waiting to be judged


def degradations(reading: Reading, now: datetime, cfg: AlertsSettings, *, speed: float = 1.0) -> dict[str, dict[str, Any]]:
    """The degradations that hold now, with the figures (never about a person) behind each.

    The limits are wall time: under the simulator's clock at ``speed`` times real time, an ingest
    that commits a second late is 600 simulated seconds behind, which is not a stalled platform."""
    found: dict[str, dict[str, Any]] = {}
    stale = timedelta(seconds=cfg.platform_stale_after_s * speed)
    if reading.online and (reading.last_data_at is None or now - reading.last_data_at >= stale):
        found["ingest_stalled"] = {"online_gateways": reading.online, "since": _iso(reading.last_data_at)}
    known = reading.online + reading.offline
    if known and reading.offline >= cfg.platform_offline_min and reading.offline / known >= cfg.platform_offline_share:
        found["gateways_offline"] = {"offline_gateways": reading.offline, "gateways": known}
    waited = now - reading.oldest_inbox_at if reading.oldest_inbox_at else timedelta(0)
    if waited >= timedelta(seconds=cfg.platform_inbox_delay_s * speed):
        found["inbox_delayed"] = {"waited_s": int(waited.total_seconds()), "since": _iso(reading.oldest_inbox_at)}
    return found


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


async def read(conn: AsyncConnection[Any]) -> Reading:
    cur = await conn.execute(_READ)
    row = await cur.fetchone()
    assert row is not None  # an aggregate over sub-selects always returns one row
    return Reading(int(row[0]), int(row[1]), row[2], row[3])


@dataclass
class Transitions:
    opened: list[str]
    closed: list[str]


async def record(conn: AsyncConnection[Any], found: dict[str, dict[str, Any]], now: datetime, cfg: AlertsSettings) -> Transitions:
    """Open, hold or close each reason's incident and enqueue the notices; the caller commits."""
    done = Transitions([], [])
    hold_until = now - timedelta(seconds=cfg.clear_hold_s)
    for reason in REASONS:
        if reason in found:
            await conn.execute(_STILL, (reason,))
            cur = await conn.execute(_OPEN, (reason, now, Jsonb(found[reason])))
            opened = await cur.fetchone()
            if opened is not None:
                done.opened.append(reason)
                details = found[reason]
                notice = functools.partial(notice_payload, reason, opened[0], opened[1], details)
                await _notify(conn, opened[0], "platform_degraded", notice, now, cfg)
            continue
        await conn.execute(_CLEARING, (now, reason))
        cur = await conn.execute(_CLOSE, (now, reason, hold_until))
        closed = await cur.fetchone()
        if closed is not None:
            done.closed.append(reason)
            recovery = functools.partial(recovery_payload, reason, closed[0], closed[1], now)
            await _notify(conn, closed[0], "platform_recovered", recovery, now, cfg)
    return done


async def _notify(
    conn: AsyncConnection[Any],
    incident: int,
    purpose: str,
    payload: Callable[[ZoneInfo], dict[str, Any]],
    now: datetime,
    cfg: AlertsSettings,
) -> None:
    """To every enabled duty (tier 0) channel of every centre, at once (no quiet hours: it is critical),
    with times in each centre's own timezone."""
    if not cfg.platform_notices:
        return
    cur = await conn.execute(_DUTY_CHANNELS)
    rows = []
    for channel, zone in await cur.fetchall():
        body = Jsonb(payload(centre_zone(zone)))
        rows.append((incident, channel, purpose, f"platform:{incident}:{purpose}:ch:{channel}", body, now, now))
    if rows:
        async with conn.cursor() as cursor:
            await cursor.executemany(_ENQUEUE, rows)


# --------------------------------------------------------------------------- texts

_WHAT: dict[str, tuple[str, str]] = {
    "ingest_stalled": (
        "the platform has received nothing from any home since {since}",
        "自 {since} 起，平台未收到任何家庭的数据",
    ),
    "gateways_offline": (
        "{offline_gateways} of {gateways} home gateways are offline (since {since})",
        "{gateways} 个家庭网关中有 {offline_gateways} 个离线（自 {since} 起）",
    ),
    "inbox_delayed": (
        "events from homes (falls, SOS) are waiting to be judged (since {since})",
        "来自家庭的事件（跌倒、紧急呼叫）正在等待处理（自 {since} 起）",
    ),
}


def centre_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")  # the API validates timezones; a row written around it still gets its notice


def notice_payload(reason: str, incident: int, since: datetime, details: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    """The bilingual notice that alerts may be delayed; figures only, nothing about a person.

    "since" is when the trouble began where the figures say (the last data, the oldest waiting
    event), else when the incident opened; in the centre's timezone."""
    began = datetime.fromisoformat(details["since"]) if details.get("since") else since
    facts = {**details, "since": f"{began.astimezone(zone):%Y-%m-%d %H:%M} ({zone.key})"}
    what_en, what_zh = (text.format(**facts) for text in _WHAT[reason])
    return {
        "version": 1,
        "purpose": "platform_degraded",
        "escalation_level": 0,
        "notice": {"id": incident, "reason": reason, "since": since.isoformat(), "details": details},
        "title_en": "[CRITICAL] Alerts may be delayed: call residents at risk",
        "title_zh": "【紧急】告警可能延迟：请致电高风险老人",
        "text_en": f"Alerts may be delayed: {what_en}. Until we tell you it is resolved, call the residents at risk "
        "and do not rely on alerts from this platform.",
        "text_zh": f"告警可能延迟：{what_zh}。在收到恢复通知之前，请致电高风险老人，不要依赖本平台的告警。",
    }


def recovery_payload(reason: str, incident: int, since: datetime, now: datetime, zone: ZoneInfo) -> dict[str, Any]:
    minutes = max(1, round((now - since).total_seconds() / 60))
    at = f"{now.astimezone(zone):%Y-%m-%d %H:%M} ({zone.key})"
    return {
        "version": 1,
        "purpose": "platform_recovered",
        "escalation_level": 0,
        "notice": {"id": incident, "reason": reason, "since": since.isoformat(), "until": now.isoformat()},
        "title_en": "Alerts are back to normal",
        "title_zh": "告警已恢复正常",
        "text_en": f"Alerts are back to normal as of {at}, after {minutes} min. Alerts delayed meanwhile are sent now; "
        "check the queue.",
        "text_zh": f"告警已于 {at} 恢复正常（中断约 {minutes} 分钟）。期间延迟的告警正在发出，请查看告警队列。",
    }


# --------------------------------------------------------------------------- heartbeat


async def ping(http: httpx.AsyncClient, url: str, timeout_s: float) -> bool:
    """One heartbeat to the outside watchdog; False (logged, never raised) when it did not get through."""
    try:
        response = await http.post(url, content=b"", timeout=timeout_s)
    except httpx.HTTPError as exc:
        log.warning("heartbeat_failed", error=type(exc).__name__)
        return False
    if response.status_code >= 300:
        log.warning("heartbeat_failed", status=response.status_code)
        return False
    return True
