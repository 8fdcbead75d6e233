"""What a presence radar adds to the welfare rules: someone is there, even without moving.

An mmWave radar sees a person who sits or lies still, which a PIR does not. While a radar that is
alive reports presence:

- the home is occupied: not "no activity", not "out" (a return the PIRs and the door contact
  missed), not "went out at night";
- stillness is still judged, as ``still_present``: the silence since the last sign of movement,
  against the resident's own limit for that context (the same learned limit inactivity uses, or its
  untrained default). A radar counts breathing as presence: a resident collapsed in the armchair is
  "present" for hours. That is the incident this rule is for, and the explanation says the radar
  sees someone, so staff know to call and then go, not to wait for a return;
- in the bathroom, the bathroom dwell speaks (a radar's presence there starts the dwell as motion
  would), and a bathroom radar that saw the person leave ends it.

Pure functions; alerts.rules calls them with the snapshot's values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from alerts.findings import Finding, clock_text, finding, room_en, room_zh
from alerts.inactivity import (
    ActivityEvent,
    Context,
    Limit,
    RoutineModel,
    Tracker,
    format_duration_en,
    format_duration_zh,
    threshold_s,
)
from alerts.inactivity.events import Absence, in_calendar_absence, silence_start
from alerts.inactivity.explain import place_en, place_zh


@dataclass(frozen=True)
class PresenceReport:
    """A radar's latest presence event: ``detected`` or ``cleared``, and when."""

    device_id: str
    room: str | None
    state: str
    at: datetime


def still_present(
    model: RoutineModel,
    events: Sequence[ActivityEvent],
    present: Sequence[PresenceReport],
    *,
    now: datetime,
    absences: Sequence[Absence] = (),
) -> Finding | None:
    """Someone present (``present``: radars alive and reporting presence) and nothing moved for
    longer than the resident's limit for the context of the last movement; None otherwise."""
    if not present or in_calendar_absence(now, absences):
        return None
    due = _stillness(model, events, now=now, absences=absences)
    if due is None:
        return None
    context, since, limit_s, limit = due
    still = now - since
    if still < timedelta(seconds=limit_s):
        return None
    learned = model.trusted and limit is not None
    return _finding(model.zone, present, context.place, since, still, timedelta(seconds=limit_s), learned=learned)


def still_due(
    model: RoutineModel, events: Sequence[ActivityEvent], *, now: datetime, absences: Sequence[Absence] = ()
) -> datetime | None:
    """When :func:`still_present` fires if a radar keeps seeing someone and nothing moves (None:
    nothing to measure stillness from); the engine's next moment of concern (alerts.deadlines)."""
    due = _stillness(model, events, now=now, absences=absences)
    if due is None:
        return None
    _, since, limit_s, _ = due
    return since + timedelta(seconds=limit_s)


def _stillness(
    model: RoutineModel, events: Sequence[ActivityEvent], *, now: datetime, absences: Sequence[Absence]
) -> tuple[Context, datetime, int, Limit | None] | None:
    """The context of the last movement, the stillness's start and the limit that applies to it."""
    tracker = Tracker(model.zone, model.tracker)
    for event in events:
        if event.at <= now and not in_calendar_absence(event.at, absences):
            tracker.push(event)
    if tracker.last is None:
        return None
    tracker.seen_home()  # the radar sees her: whatever the door said, she is in
    context = tracker.context
    limit_s, limit = threshold_s(model, context)
    return context, silence_start(context.since, now, absences), limit_s, limit


def _finding(
    zone: ZoneInfo,
    present: Sequence[PresenceReport],
    place: str,
    since: datetime,
    still: timedelta,
    limit: timedelta,
    *,
    learned: bool,
) -> Finding:
    first = min(present, key=lambda r: r.at)
    rooms_en = " and the ".join(sorted({room_en(r.room) for r in present}))
    rooms_zh = "和".join(sorted({room_zh(r.room) for r in present}))
    at, seen = clock_text(since, zone), clock_text(first.at, zone)
    why_en = "her own longest stillness there" if learned else "the default limit (routine not learned yet)"
    why_zh = "平时在此的最长静止时间" if learned else "默认上限（尚未学习作息）"
    return finding(
        "still_present",
        f"The presence radar in the {rooms_en} sees someone there (since {seen}), but nothing has moved for "
        f"{format_duration_en(still)} since {at} (last: {place_en(place)}), beyond {why_en} of "
        f"{format_duration_en(limit)}. The resident may be unable to move: call, and if there is no answer, go.",
        f"{rooms_zh}的人体存在雷达显示有人（自 {seen} 起），但自 {at} 起已 {format_duration_zh(still)}没有任何活动"
        f"（最后在{place_zh(place)}），超过{why_zh} {format_duration_zh(limit)}。老人可能无法动弹：请致电，无人接听请上门。",
        {
            "radars": [{"id": r.device_id, "room": r.room, "since": r.at.isoformat()} for r in present],
            "still_since": since.isoformat(),
            "still_s": int(still.total_seconds()),
            "limit_s": int(limit.total_seconds()),
            "learned": learned,
            "place": place,
        },
    )


def left_the_room(reports: Sequence[PresenceReport], room: str, since: datetime) -> bool:
    """A radar in ``room`` saw the person leave it after ``since`` (and nobody since)."""
    return any(r.room == room and r.state == "cleared" and r.at >= since for r in reports)
