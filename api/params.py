"""Validated parameter types shared by route modules: ids, time zones, time ranges, page sizes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import HTTPException, Path, Query, status
from pydantic import AfterValidator, Field

MAX_BIGINT = 2**63 - 1
# The largest id a body or a path may name: 2**53 - 1, the largest integer a JSON number holds
# exactly everywhere (JavaScript included); ids come from sequences that will never reach it.
MAX_ID = 2**53 - 1
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL
MAX_PAGE = 1000
DEFAULT_PAGE = 100

Id = Annotated[int, Path(ge=1, le=MAX_BIGINT, description="numeric id")]
HOME_ID_PATTERN = r"^[a-z0-9][a-z0-9_\-]{1,63}$"
HomeId = Annotated[str, Path(pattern=HOME_ID_PATTERN, description="home id (= its MQTT username)")]
HomeFilter = Annotated[str | None, Query(pattern=HOME_ID_PATTERN, description="only this home")]
DeviceId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$", description="device id")]


def _known_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None
    return name


TimeZoneName = Annotated[str, Field(min_length=1, max_length=64, examples=["Asia/Shanghai"]), AfterValidator(_known_zone)]
PlainText = Annotated[str, Field(max_length=2000, pattern=NO_NUL)]


def check_range(start: datetime, end: datetime, *, max_span: timedelta) -> None:
    """422 when the range is empty, reversed or longer than ``max_span``."""
    if end <= start:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "'to' must be after 'from' / 结束时间必须晚于开始时间")
    if end - start > max_span:
        days = max_span.total_seconds() / 86400
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"range longer than {days:g} days / 时间范围超过 {days:g} 天")


def shifted(moment: datetime, delta: timedelta) -> datetime:
    """``moment + delta``, or 422 when that leaves the calendar (year 1 or 9999)."""
    try:
        return moment + delta
    except OverflowError:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "time out of range / 时间超出范围") from None
