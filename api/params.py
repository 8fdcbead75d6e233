"""Validated parameter types shared by route modules: ids, time ranges, page sizes.

Their bounds come from :mod:`api.bounds`; a range a route finds wrong is a 422 naming the parameter.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Path, Query

from api.bounds import DEVICE_ID_PATTERN, MAX_ID
from api.errors import InvalidInputError
from eldercare.contracts.topics import HOME_ID_PATTERN

MAX_PAGE = 1000
DEFAULT_PAGE = 100

Id = Annotated[int, Path(ge=1, le=MAX_ID, description="numeric id")]
HomeId = Annotated[str, Path(pattern=HOME_ID_PATTERN, description="home id (= its MQTT username)")]
HomeFilter = Annotated[str | None, Query(pattern=HOME_ID_PATTERN, description="only this home")]
DeviceId = Annotated[str, Path(pattern=DEVICE_ID_PATTERN, description="device id")]
IdFilter = Annotated[int | None, Query(ge=1, le=MAX_ID)]
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"at most {MAX_PAGE}")]


def check_range(start: datetime, end: datetime, *, max_span: timedelta) -> None:
    """422 when the range is empty, reversed (naming ``to``) or longer than ``max_span`` (naming ``from``)."""
    if end <= start:
        raise InvalidInputError(("query", "to"), "'to' must be after 'from' / 结束时间必须晚于开始时间")
    if end - start > max_span:
        days = max_span.total_seconds() / 86400
        raise InvalidInputError(("query", "from"), f"range longer than {days:g} days / 时间范围超过 {days:g} 天")


def shifted(moment: datetime, delta: timedelta) -> datetime:
    """``moment + delta``, or 422 when that leaves the calendar (year 1 or 9999)."""
    try:
        return moment + delta
    except OverflowError:
        raise InvalidInputError(("query", "to"), "time out of range / 时间超出范围") from None
