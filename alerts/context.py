"""Who a home belongs to: its care centre (timezone, quiet hours), its resident and their rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from eldercare import logs
from eldercare.domain.rule_settings import DEFAULT_RULES, RuleSettings, lenient

log = logs.get("alerts")

_HOME = """
SELECT h.id AS home_id, h.care_centre_id, h.timezone AS home_tz, c.timezone AS centre_tz,
       c.quiet_start, c.quiet_end, r.id AS resident_id, r.rule_settings, r.emergency_contacts,
       (SELECT coalesce(json_agg(json_build_array(n.id, n.tier, n.min_severity) ORDER BY n.id), '[]')
          FROM notification_channels n WHERE n.care_centre_id = c.id AND n.enabled) AS channels
  FROM homes h
  JOIN care_centres c ON c.id = h.care_centre_id
  LEFT JOIN LATERAL (SELECT id, rule_settings, emergency_contacts FROM residents
                      WHERE home_id = h.id ORDER BY id LIMIT 1) r ON true
 WHERE h.id = %s
"""


@dataclass(frozen=True)
class Channel:
    id: int
    tier: int
    min_severity: str


@dataclass(frozen=True)
class HomeContext:
    """One home, as the engine needs it. A home with several residents uses the first one's rules."""

    home_id: str
    care_centre_id: int
    zone: ZoneInfo
    centre_zone: ZoneInfo
    quiet_start: time | None
    quiet_end: time | None
    resident_id: int | None
    rules: RuleSettings
    emergency_contacts: tuple[dict[str, Any], ...]
    # the care centre's enabled channels, read with the home (one query on the alert's hot path)
    channels: tuple[Channel, ...] = ()


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")  # a typo in a timezone must not stop alerts; times are shown in UTC


def _rules(raw: Any, resident_id: int) -> RuleSettings:
    """The resident's settings; invalid ones are logged by key and replaced by the defaults."""
    rules, bad_keys = lenient(raw)
    if bad_keys:
        log.warning("rule_settings_invalid", resident_id=resident_id, keys=bad_keys)
    return rules


async def load_context(conn: AsyncConnection[Any], home_id: str) -> HomeContext | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_HOME, (home_id,))
        row = await cur.fetchone()
    if row is None:
        return None
    resident_id = row["resident_id"]
    rules = _rules(row["rule_settings"], resident_id) if resident_id else DEFAULT_RULES
    contacts = tuple(c for c in (row["emergency_contacts"] or []) if isinstance(c, dict))
    return HomeContext(
        home_id=row["home_id"],
        care_centre_id=row["care_centre_id"],
        zone=_zone(row["home_tz"]),
        centre_zone=_zone(row["centre_tz"]),
        quiet_start=row["quiet_start"],
        quiet_end=row["quiet_end"],
        resident_id=resident_id,
        rules=rules,
        emergency_contacts=contacts,
        channels=tuple(Channel(int(i), int(tier), str(sev)) for i, tier, sev in row["channels"]),
    )
