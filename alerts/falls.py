"""A fall candidate from the wearable, judged with the resident's answer and the home's sensors: pure, no I/O.

A wearable alone both misses and cries wolf, so a candidate is not an alarm at once:

* **Cancel window.** The alert opens *pending* (staff see "possible fall, waiting for the
  resident" and the time left) for ``fall.cancel_window_s`` after the impact. One press of the
  wearable's or the SOS button's button in the window means "I'm OK": the alert is closed as
  ``cancelled_by_resident`` and nobody is called. A double or long press means help: the fall is
  raised at once (and the press raises its SOS alert).
* **Confirmation from the home.** When the window ends, movement in another room than the one the
  resident was last seen in before the fall (motion, a door, an appliance switched on) says they
  got up and walked away: the fall is raised at medium severity, for a call rather than a visit.
  No such movement: the fall is raised, critical.
* **Soft candidates** (a confidence below ``fall.alarm_confidence``: the detector's
  UPRIGHT_TO_LYING pattern, from upright to lying after a loss of support without a hard impact,
  as in a faint) never alarm alone. They wait ``fall.soft_confirm_s``; any sign of life anywhere
  in the home in that time closes them (``resident_got_up``), none raises the fall.
* **Night.** A candidate while the bed mat says "in bed" is turning over (``rolled_over_in_bed``)
  unless the bed then reports empty and nothing moves anywhere else: a fall out of bed, raised.

Every step is written into the alert in English and Chinese (``evidence.steps``), and the
explanation is their sequence: what the wearable saw, what the home saw after, why it was raised,
downgraded or closed. :mod:`alerts.fall_window` does the reading and writing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from alerts.event_rules import InboxItem
from alerts.findings import Finding, finding, room_en, room_zh
from alerts.inactivity.events import ActivityEvent
from eldercare.domain.alerts.catalogue import Severity, SystemOutcome
from eldercare.domain.rule_settings import FallRule

# Signs of life are counted from this long after the impact: the fall itself may trip the PIR of
# its own room, and a wearable reports the impact about 2 s late anyway.
SETTLE_S = 10.0
# The bed mat may report "vacated" a moment before the impact of a fall out of bed: its state is
# read this long before the impact.
BED_LEAD_S = 5.0
# How far back the room the resident was last seen in, and the bed's state, are looked for.
LOOKBACK = timedelta(hours=24)
_MOVED = frozenset({"motion", "door_open", "door_close", "appliance"})


@dataclass(frozen=True)
class Step:
    """One step of the judgement, as staff read it."""

    at: datetime
    en: str
    zh: str

    def as_json(self) -> dict[str, str]:
        return {"at": self.at.isoformat(), "en": self.en, "zh": self.zh}


@dataclass(frozen=True)
class Candidate:
    """What the platform knows of a fall candidate when it arrives (kept in the alert's evidence)."""

    at: datetime  # the impact
    confidence: float | None
    soft: bool  # below the alarm confidence: only the home's confirmation raises it
    room: str | None  # where the resident was last seen before it
    in_bed: bool  # the bed mat said "in bed" just before it
    window_s: int
    decide_at: datetime  # the end of the wait: the cancel window, or the soft confirmation

    @property
    def immediate(self) -> bool:
        """No wait at all: a hard candidate out of bed with the cancel window switched off (0 s)."""
        return self.window_s == 0 and not self.soft and not self.in_bed

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(at=self.at.isoformat(), decide_at=self.decide_at.isoformat())
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Candidate:
        """Back from the alert's evidence, which only the engine writes."""
        return cls(
            at=datetime.fromisoformat(data["at"]),
            confidence=data["confidence"],
            soft=bool(data["soft"]),
            room=data["room"],
            in_bed=bool(data["in_bed"]),
            window_s=int(data["window_s"]),
            decide_at=datetime.fromisoformat(data["decide_at"]),
        )


@dataclass(frozen=True)
class Verdict:
    """How a wait ends: ``outcome`` None raises the fall at ``severity``; else it closes it."""

    step: Step
    severity: Severity = "critical"
    outcome: SystemOutcome | None = None


def candidate(item: InboxItem, rules: FallRule, seen: Sequence[ActivityEvent]) -> Candidate:
    """The candidate an inbox fall event makes, given the home's activity before it (oldest first)."""
    confidence = _number(item.data.get("confidence"))
    soft = confidence is not None and confidence < rules.alarm_confidence
    before = [e for e in seen if e.at <= item.ts]
    rooms = [e.area for e in before if e.kind in _MOVED and e.area is not None]
    beds = [e.kind for e in before if e.kind in ("bed_in", "bed_out") and e.at <= item.ts - timedelta(seconds=BED_LEAD_S)]
    in_bed = bool(beds) and beds[-1] == "bed_in"
    wait = max(rules.cancel_window_s, rules.soft_confirm_s) if soft and not in_bed else rules.cancel_window_s
    return Candidate(
        at=item.ts,
        confidence=confidence,
        soft=soft,
        room=rooms[-1] if rooms else None,
        in_bed=in_bed,
        window_s=rules.cancel_window_s,
        decide_at=item.ts + timedelta(seconds=wait),
    )


def _radar_saw(item: InboxItem, radar: dict[str, Any], at: str) -> tuple[str, str]:
    """A presence radar's own fall report: it sees the person on the floor without anything worn."""
    where_en = f" in the {room_en(item.room)}" if item.room else ""
    where_zh = room_zh(item.room) if item.room else ""
    distance = _number(radar.get("target_distance_m"))
    far_en = f", {distance:.1f} m from it" if distance is not None else ""
    far_zh = f"（距雷达 {distance:.1f} 米）" if distance is not None else ""
    return (
        f"{at} possible fall: the presence radar{where_en} reported a fall{far_en}.",
        f"{at} 疑似跌倒：{where_zh}毫米波雷达报告有人跌倒{far_zh}。",
    )


def opening(item: InboxItem, c: Candidate, zone: ZoneInfo) -> Step:
    """What the wearable saw, and what the platform now waits for."""
    given = item.data.get("evidence")
    impact: dict[str, Any] = given if isinstance(given, dict) else {}
    peak, turn = _number(impact.get("peak_g")), _number(impact.get("orientation_change_deg"))
    conf_en = f", confidence {c.confidence:.0%}" if c.confidence is not None else ""
    conf_zh = f"，置信度 {c.confidence:.0%}" if c.confidence is not None else ""
    turn_en = f" and the body turned {turn:.0f} degrees" if turn is not None else ""
    turn_zh = f"，身体转动 {turn:.0f}°" if turn is not None else ""
    at = _clock(c.at, zone)
    if impact.get("source") == "radar":
        en, zh = _radar_saw(item, impact, at)
    elif c.soft:
        peak_en = f" ({peak:.1f} g)" if peak is not None else ""
        en = f"{at} possible soft fall: from upright to lying{turn_en} without a hard impact{peak_en}{conf_en}"
        en += ": no alarm by itself."
        zh = f"{at} 疑似缓慢跌倒：由直立转为躺卧{turn_zh}，无明显冲击{conf_zh}，单独不报警。"
    else:
        peak_en = f"an impact of {peak:.1f} g" if peak is not None else "an impact"
        peak_zh = f" {peak:.1f} g 的" if peak is not None else ""
        en = f"{at} possible fall: the wearable saw {peak_en}{turn_en}{conf_en}."
        zh = f"{at} 疑似跌倒：可穿戴设备检测到{peak_zh}冲击{turn_zh}{conf_zh}。"
    wait = round((c.decide_at - c.at).total_seconds())
    if c.in_bed:
        en += f" The bed mat says the resident is in bed: probably turning over; waiting {wait} s for the bed to empty."
        zh += f"床垫传感器显示老人在床上：可能是翻身；等待 {wait} 秒观察是否离床。"
    elif c.soft:
        en += f" Waiting {wait} s for a sign of life in the home."
        zh += f"等待 {wait} 秒观察家中是否有活动。"
    elif c.window_s:
        en += f" Waiting {wait} s for the resident."
        zh += f"等待老人回应 {wait} 秒。"
    if c.immediate:
        en += " The cancel window is off: raised at once."
        zh += "未设置取消等待：立即报警。"
    elif c.window_s:
        en += " One press of the button means “I'm OK”; a double or long press calls for help."
        zh += "按一下按钮表示“我没事”，双击或长按表示求助。"
    return Step(item.ts, en, zh)


def answer(c: Candidate, press: str, at: datetime, zone: ZoneInfo) -> Verdict:
    """A press of the button while the candidate waits: one press cancels, any other asks for help."""
    after = round((at - c.at).total_seconds())
    if press == "single":
        return Verdict(
            Step(
                at,
                f"{_clock(at, zone)} the resident pressed “I'm OK” ({after} s after): cancelled, nobody was called.",
                f"{_clock(at, zone)} 老人按下“我没事”（{after} 秒后）：已取消，未通知任何人。",
            ),
            outcome="cancelled_by_resident",
        )
    press_zh = {"double": "双击", "long": "长按"}.get(press, press)
    return Verdict(
        Step(
            at,
            f"{_clock(at, zone)} the resident asked for help ({press} press, {after} s after): raised at once.",
            f"{_clock(at, zone)} 老人求助（{press_zh}，{after} 秒后）：立即报警。",
        )
    )


def judge(c: Candidate, seen: Sequence[ActivityEvent], now: datetime, zone: ZoneInfo) -> Verdict:
    """The end of the wait, from the home's activity around the candidate (oldest first)."""
    since = c.at + timedelta(seconds=SETTLE_S)
    after = [e for e in seen if since < e.at <= now]
    if c.in_bed:
        return _in_bed(c, seen, now, zone)
    if c.soft:
        life = after[0] if after else None
        if life is not None:
            return _closed(life, c, zone, "resident_got_up")
        waited = round((now - c.at).total_seconds())
        return Verdict(
            Step(
                now,
                f"{_clock(now, zone)} no sign of life anywhere in the home for {waited} s: raised as a fall.",
                f"{_clock(now, zone)} {waited} 秒内家中无任何活动：确认为跌倒并报警。",
            )
        )
    elsewhere = next((e for e in after if e.kind in _MOVED and e.area != c.room), None)
    if elsewhere is not None:
        later = round((elsewhere.at - c.at).total_seconds())
        return Verdict(
            Step(
                now,
                f"{_clock(elsewhere.at, zone)} movement in the {room_en(elsewhere.area)} {later} s after the fall: the resident"
                " probably got up and walked away; raised as medium, call to check on them.",
                f"{_clock(elsewhere.at, zone)} 跌倒 {later} 秒后{room_zh(elsewhere.area)}有活动：老人可能已起身离开；"
                "降为中级，请致电确认。",
            ),
            severity="medium",
        )
    return Verdict(
        Step(
            now,
            f"{_clock(now, zone)} no answer within {c.window_s} s and no movement in another room: raised as a fall.",
            f"{_clock(now, zone)} {c.window_s} 秒内无回应，其他房间也无活动：确认为跌倒并报警。",
        )
    )


def _in_bed(c: Candidate, seen: Sequence[ActivityEvent], now: datetime, zone: ZoneInfo) -> Verdict:
    lead = c.at - timedelta(seconds=BED_LEAD_S)
    bed = [e for e in seen if lead < e.at <= now and e.kind in ("bed_in", "bed_out")]
    if not bed or bed[-1].kind == "bed_in":
        return Verdict(
            Step(
                now,
                f"{_clock(now, zone)} the bed is still occupied: turning over in bed; closed, nobody was called.",
                f"{_clock(now, zone)} 床上仍有人：判断为床上翻身；已关闭，未通知任何人。",
            ),
            outcome="rolled_over_in_bed",
        )
    left = bed[-1]
    elsewhere = next((e for e in seen if left.at < e.at <= now and e.kind in _MOVED and e.area != "bedroom"), None)
    if elsewhere is not None:
        return _closed(elsewhere, c, zone, "resident_got_up")
    return Verdict(
        Step(
            now,
            f"{_clock(left.at, zone)} the bed became empty and nothing moved anywhere else: a fall out of bed, raised.",
            f"{_clock(left.at, zone)} 床上无人且其他地方无活动：判断为坠床，已报警。",
        )
    )


def _closed(life: ActivityEvent, c: Candidate, zone: ZoneInfo, outcome: SystemOutcome) -> Verdict:
    later = round((life.at - c.at).total_seconds())
    where_en = f"in the {room_en(life.area)}" if life.area else "in the home"
    where_zh = room_zh(life.area) if life.area else "家中"
    return Verdict(
        Step(
            life.at,
            f"{_clock(life.at, zone)} movement {where_en} {later} s after: the resident is up; closed, nobody was called.",
            f"{_clock(life.at, zone)} {later} 秒后{where_zh}有活动：老人已起身；已关闭，未通知任何人。",
        ),
        outcome=outcome,
    )


def as_finding(item: InboxItem, c: Candidate, steps: Sequence[Step], severity: Severity) -> Finding:
    """The alert's words and evidence after ``steps``: the explanation is the steps in order."""
    evidence = {
        "event": {"device": item.device_id, "seq": item.seq, "ts": item.ts.isoformat(), "room": item.room},
        "confidence": c.confidence,
        "fall_at": c.at.isoformat(),
        "impact": item.data.get("evidence"),
        "candidate": c.as_json(),
        "steps": [s.as_json() for s in steps],
    }
    return finding("fall", " ".join(s.en for s in steps), "".join(s.zh for s in steps), evidence, severity)


def _clock(moment: datetime, zone: ZoneInfo) -> str:
    """HH:MM:SS in the home's time: a 30-s window needs the seconds."""
    return moment.astimezone(zone).strftime("%H:%M:%S")


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
