"""Every alarm explains itself in English and Chinese, with the figures it was learned from:
"Out of bed since 02:14 (47 min); at night usually back in bed within 12 min. No movement since
02:20 (41 min): after the bathroom between 00:00 and 03:00 the longest silence in 20 days was
9 min, so the alarm comes after 15 min."
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from alerts.findings import room_en, room_zh
from alerts.inactivity.tracker import ROOT

if TYPE_CHECKING:
    from alerts.inactivity.evaluation import Due
    from alerts.inactivity.model import Limit, RoutineModel


@dataclass(frozen=True)
class Explanation:
    en: str
    zh: str
    evidence: dict[str, Any] = field(default_factory=dict)


def format_duration_en(duration: timedelta) -> str:
    """'2 h 40 min', '45 min', '3 h' (minutes rounded down)."""
    hours, minutes = divmod(int(duration.total_seconds()) // 60, 60)
    if hours and minutes:
        return f"{hours} h {minutes} min"
    return f"{hours} h" if hours else f"{minutes} min"


def format_duration_zh(duration: timedelta) -> str:
    """'2 小时 40 分钟', '45 分钟', '3 小时'."""
    hours, minutes = divmod(int(duration.total_seconds()) // 60, 60)
    if hours and minutes:
        return f"{hours} 小时 {minutes} 分钟"
    return f"{hours} 小时" if hours else f"{minutes} 分钟"


def _clock(moment: datetime, model: RoutineModel) -> str:
    return moment.astimezone(model.zone).strftime("%H:%M")


def _hhmm(seconds: int) -> str:
    seconds %= 86_400
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}"


def place_en(place: str) -> str:
    room, _, device = place.partition("/")
    if device.startswith("appliance:"):
        return f"switching on the {device.removeprefix('appliance:')} ({room_en(room)})"
    return f"the {room_en(room)} ({device})" if device else f"the {room_en(room)}"


def place_zh(place: str) -> str:
    room, _, device = place.partition("/")
    if device.startswith("appliance:"):
        return f"{room_zh(room)}的{device.removeprefix('appliance:')}开启"
    return f"{room_zh(room)}（{device}）" if device else room_zh(room)


def _scope(limit: Limit, model: RoutineModel) -> tuple[str, str]:
    """The context a limit was learned in, in words: "after the kitchen between 12:00 and 15:00"."""
    parts = limit.key.split("|")
    if parts[0] == ROOT:
        return "anywhere at home", "在家中任何地方"
    group, rest = parts[0], parts[1:]
    en, zh = {"in_bed": ("in bed", "在床上"), "up": ("out of bed", "离床后"), "home": ("at home", "在家"), "out": ("", "")}[group]
    if group != "out":
        night = rest.pop(0) == "night"
        en, zh = f"{en} {'at night' if night else 'by day'}", f"{'夜间' if night else '白天'}{zh}"
    if group != "out" and rest:
        place = rest.pop(0)
        if place != "bed":
            en = f"after {place_en(place)} {'at night' if night else 'by day'}"
            zh = f"{'夜间' if night else '白天'}在{place_zh(place)}之后"
    if rest:
        slot = rest.pop(0)  # a band of the clock ("2"), or an hour of it ("h9")
        start, width = (
            (int(slot[1:]) * 3600, 3600) if slot.startswith("h") else (int(slot) * model.tracker.band_s, model.tracker.band_s)
        )
        hours = f"{_hhmm(start)}–{_hhmm(start + width)}"
        en = f"{en.removesuffix(' by day').removesuffix(' at night')} between {hours}".strip()
        zh = f"{hours}{zh.removeprefix('白天').removeprefix('夜间') or '出门'}"
    if rest:
        weekend = rest[0] == "weekend"
        en, zh = f"{en} on {'weekends' if weekend else 'weekdays'}", f"{zh}（{'周末' if weekend else '工作日'}）"
    return en, zh


def explain(model: RoutineModel, due: Due, now: datetime) -> Explanation:
    if due.kind == "not_up":
        return _not_up(model, due, now)
    if due.kind == "long_absence":
        return _absence(model, due, now)
    return _inactivity(model, due, now)  # inactivity, and bed_exit whose bed note leads


def _evidence(due: Due) -> dict[str, Any]:
    limit = due.limit
    return {
        "group": due.context.group,
        "place": due.context.place,
        "limit_key": limit.key if limit else None,
        "limit_days": limit.days if limit else None,
        "bed_since": due.context.bed_since.isoformat() if due.context.bed_since else None,
    }


def _inactivity(model: RoutineModel, due: Due, now: datetime) -> Explanation:
    quiet = now - due.since
    since = _clock(due.since, model)
    where_en, where_zh = place_en(due.context.place), place_zh(due.context.place)
    en = f"No movement for {format_duration_en(quiet)} since {since} (last: {where_en})"
    zh = f"自 {since} 起已 {format_duration_zh(quiet)}无活动（最后在{where_zh}）。"
    bed_en, bed_zh = _bed_note(model, due, now)
    limit, threshold = due.limit, due.threshold
    if limit is None and model.trusted and due.context.group == "in_bed":
        # In bed at night silence is sleep: only the longest night allowed ends it.
        en += f"; in bed at night, an alarm only after {format_duration_en(threshold)}."
        zh += f"夜间在床上，超过 {format_duration_zh(threshold)} 才报警。"
        return Explanation(bed_en + en, bed_zh + zh, _evidence(due))
    if limit is None or not model.trusted:
        en += f"; routine not learned yet, default limit {format_duration_en(threshold)}."
        zh += f"尚未学习作息，默认上限 {format_duration_zh(threshold)}。"
        return Explanation(bed_en + en, bed_zh + zh, _evidence(due))
    scope_en, scope_zh = _scope(limit, model)
    figures_en, figures_zh = _figures(limit, threshold, f"{scope_en[0].upper()}{scope_en[1:]}", scope_zh, "silence", "安静")
    return Explanation(f"{bed_en}{en}. {figures_en}", bed_zh + zh + figures_zh, _evidence(due))


def _figures(limit: Limit, threshold: timedelta, scope_en: str, scope_zh: str, noun_en: str, noun_zh: str) -> tuple[str, str]:
    """The learned figures behind an alarm: the context, its longest case, on how many days."""
    usual = timedelta(seconds=limit.usual_max_s)
    en = (
        f"{scope_en}, the longest {noun_en} in {limit.days} days was {format_duration_en(usual)};"
        f" the alarm comes after {format_duration_en(threshold)}."
    )
    longest_zh, after_zh = format_duration_zh(usual), format_duration_zh(threshold)
    return en, f"过去 {limit.days} 天中，{scope_zh}最长{noun_zh} {longest_zh}；超过 {after_zh} 即报警。"


def _bed_note(model: RoutineModel, due: Due, now: datetime) -> tuple[str, str]:
    """In bed, or out of bed in the night (bed_exit): what the bed mat says, before the silence."""
    context = due.context
    if context.bed_since is None or (context.group != "in_bed" and due.kind != "bed_exit"):
        return "", ""
    at = _clock(context.bed_since, model)
    for_en, for_zh = format_duration_en(now - context.bed_since), format_duration_zh(now - context.bed_since)
    if context.group == "in_bed":
        return f"In bed since {at} ({for_en}). ", f"自 {at} 起在床上（{for_zh}）。"
    en, zh = f"Out of bed since {at} ({for_en}).", f"自 {at} 起离床（{for_zh}）。"
    if model.night_bed_return_s is not None:
        back = timedelta(seconds=model.night_bed_return_s)
        en += f" At night usually back in bed within {format_duration_en(back)} ({model.night_bed_exits} night exits)."
        zh += f"夜间通常 {format_duration_zh(back)} 内回到床上（{model.night_bed_exits} 次夜间离床）。"
    return en + " ", zh


def _not_up(model: RoutineModel, due: Due, now: datetime) -> Explanation:
    since = _clock(due.since, model)
    up_by = _hhmm(due.usual_up_s or 0)
    margin = timedelta(seconds=model.not_up_margin_s)
    en = (
        f"Not up by the usual time: no activity since {since}, usually up by {up_by}"
        f" (the check waits {format_duration_en(margin)} past it)."
    )
    zh = f"未按平时时间起床：自 {since} 起无活动，通常 {up_by} 前已起床（超过 {format_duration_zh(margin)} 仍未起床即报警）。"
    return Explanation(en, zh, _evidence(due))


def _absence(model: RoutineModel, due: Due, now: datetime) -> Explanation:
    away = now - due.since
    since = _clock(due.since, model)
    en = f"Out for {format_duration_en(away)} since the door at {since}, with no sign of a return."
    zh = f"自 {since} 出门已 {format_duration_zh(away)}，未见回家迹象。"
    limit = due.limit
    if limit is None or not model.trusted:
        en += f" Absences not learned yet, default limit {format_duration_en(due.threshold)}."
        zh += f"尚未学习外出习惯，默认上限 {format_duration_zh(due.threshold)}。"
        return Explanation(en, zh, _evidence(due))
    scope_en, scope_zh = _scope(limit, model)
    when = scope_en.strip() or "at any time"
    figures_en, figures_zh = _figures(limit, due.threshold, f"Leaving {when}", scope_zh, "absence", "外出")
    return Explanation(f"{en} {figures_en}", zh + figures_zh, _evidence(due))
