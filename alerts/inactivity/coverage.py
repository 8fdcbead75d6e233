"""What the rule can see in a home, in words for the resident's page.

A home whose sensors miss the sofa cannot get short daytime alarms, and the rule should say so
rather than pretend: "Welfare checks are slow here: no sensor in the living room." The figures
come from the learned limits applied to the resident's own history (one weight per 10-minute bin
with activity), so they are what a collapse after an ordinary moment would wait for.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import numpy as np

from alerts.findings import room_en, room_zh
from alerts.inactivity.evaluation import threshold_s
from alerts.inactivity.explain import format_duration_en, format_duration_zh
from alerts.inactivity.model import Coverage, RoutineModel
from alerts.inactivity.tracker import Context

CORE_ROOMS = ("bedroom", "bathroom", "kitchen", "living_room")
SLOW_DAY_MEDIAN_S = 3600  # by day, half of all collapses would wait this long or longer: "slow"
# A place where the resident sits still for long: by day, a collapse after an event there waits at
# least this long (median), and such moments are at least this share of the day's.
SLOW_PLACE_S = 90 * 60
SLOW_PLACE_SHARE = 0.05
_BIN_S = 600
_DAY = (8 * 3600, 22 * 3600)

UNTRAINED = Coverage("untrained", (), False, False, None, None, None, (), ())


def assess_coverage(model: RoutineModel, contexts: Sequence[Context], min_history_days: int) -> Coverage:
    rooms = tuple(sorted({c.last.room for c in contexts}))
    en: list[str] = []
    zh: list[str] = []
    if not model.trusted:
        en.append(
            f"Routine not learned yet ({model.days_of_history} of {min_history_days} days): fixed limits of "
            f"{format_duration_en(timedelta(seconds=model.default_threshold_s))} by day and "
            f"{format_duration_en(timedelta(seconds=model.default_night_threshold_s))} at night apply."
        )
        zh.append(
            f"尚未学习作息（已有 {model.days_of_history}/{min_history_days} 天）：白天固定上限 "
            f"{format_duration_zh(timedelta(seconds=model.default_threshold_s))}，夜间 "
            f"{format_duration_zh(timedelta(seconds=model.default_night_threshold_s))}。"
        )
    day, night, places = _latencies(model, contexts)
    day_median, day_p90 = _quantile(day, 0.5), _quantile(day, 0.9)
    missing = [r for r in CORE_ROOMS if r not in rooms]
    slow = bool(missing) or (day_median is not None and day_median >= SLOW_DAY_MEDIAN_S)
    if missing:
        en.append("Welfare checks are slow here: no sensor in the " + ", ".join(room_en(r) for r in missing) + ".")
        zh.append("此处安全检查较慢：" + "、".join(room_zh(r) for r in missing) + "没有传感器。")
    if model.trusted and day_median is not None and day_p90 is not None:
        median_en, p90_en = format_duration_en(timedelta(seconds=day_median)), format_duration_en(timedelta(seconds=day_p90))
        median_zh, p90_zh = format_duration_zh(timedelta(seconds=day_median)), format_duration_zh(timedelta(seconds=day_p90))
        lead_en, lead_zh = ("Welfare checks are slow here: by", "此处安全检查较慢：") if slow and not missing else ("By", "")
        en.append(f"{lead_en} day an alarm comes after {median_en} of silence (median; 90 % within {p90_en}).")
        zh.append(f"{lead_zh}白天无活动 {median_zh} 后报警（中位数；90% 在 {p90_zh} 内）。")
    if model.trusted:
        note_slow_places({r: p for r, p in places.items() if r not in model.tracker.entry_areas}, en, zh)
    if not model.has_bed:
        en.append(_no_bed_en(model))
        zh.append(_no_bed_zh(model))
    if not model.has_door:
        en.append("No door contact: an absence cannot be told from silence at home.")
        zh.append("没有门磁：无法区分外出和在家无活动。")
    level = "untrained" if not model.trusted else "slow" if slow else "good"
    night_median = _quantile(night, 0.5)
    return Coverage(level, rooms, model.has_door, model.has_bed, day_median, day_p90, night_median, tuple(en), tuple(zh))


def _no_bed_en(model: RoutineModel) -> str:
    text = "No bed sensor: at night a collapse is noticed only by the not-up check in the morning"
    usual = model.usual_wake_s.get("weekday")
    return text + (f" (usually up by {usual // 3600:02d}:{usual // 60 % 60:02d})." if usual is not None else ".")


def _no_bed_zh(model: RoutineModel) -> str:
    text = "没有床垫传感器：夜间跌倒只能在早上未按时起床时发现"
    usual = model.usual_wake_s.get("weekday")
    return text + (f"（通常 {usual // 3600:02d}:{usual // 60 % 60:02d} 前起床）。" if usual is not None else "。")


def note_slow_places(places: dict[str, list[tuple[int, float]]], en: list[str], zh: list[str]) -> None:
    """Rooms where the resident sits still for hours by day (CASAS: the living room and the work
    table): the sensors cannot tell sitting still there from lying still."""
    total = sum(w for pairs in places.values() for _, w in pairs)
    slow: list[tuple[str, int]] = []
    for room, pairs in sorted(places.items()):
        median = _quantile(pairs, 0.5)
        if median is not None and median >= SLOW_PLACE_S and sum(w for _, w in pairs) >= SLOW_PLACE_SHARE * total:
            slow.append((room, median))
    if not slow:
        return
    wait = timedelta(seconds=max(m for _, m in slow))
    en.append(
        "By day, after the resident is seen in the " + ", ".join(room_en(r) for r, _ in slow) + f" an alarm waits "
        f"{format_duration_en(wait)}: they often sit still there for hours, which the sensors cannot tell from a collapse."
    )
    zh.append(
        "白天在" + "、".join(room_zh(r) for r, _ in slow) + f"活动后，报警需等待 {format_duration_zh(wait)}："
        "住户常在那里久坐不动，传感器无法将其与跌倒区分。"
    )


def _latencies(
    model: RoutineModel, contexts: Sequence[Context]
) -> tuple[list[tuple[int, float]], list[tuple[int, float]], dict[str, list[tuple[int, float]]]]:
    """(threshold, weight) of every silence at home, by day and at night; and by day per room."""
    bins: dict[int, int] = {}
    for context in contexts:
        b = int(context.since.timestamp()) // _BIN_S
        bins[b] = bins.get(b, 0) + 1
    day: list[tuple[int, float]] = []
    night: list[tuple[int, float]] = []
    places: dict[str, list[tuple[int, float]]] = {}
    for context in contexts:
        value = threshold_s(model, context)[0]
        weight = 1.0 / bins[int(context.since.timestamp()) // _BIN_S]
        local = context.since.astimezone(model.zone)
        sod = local.hour * 3600 + local.minute * 60
        if _DAY[0] <= sod < _DAY[1]:
            day.append((value, weight))
            places.setdefault(context.last.room, []).append((value, weight))
        else:
            night.append((value, weight))
    return day, night, places


def _quantile(pairs: Sequence[tuple[int, float]], q: float) -> int | None:
    """Weighted quantile of (value, weight) pairs."""
    if not pairs:
        return None
    values = np.array([v for v, _ in pairs], dtype=np.float64)
    weights = np.array([w for _, w in pairs], dtype=np.float64)
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    index = int(np.searchsorted(cumulative, q * cumulative[-1]))
    return int(values[order][min(index, len(values) - 1)])
