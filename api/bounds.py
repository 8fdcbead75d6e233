"""The bounds of everything a client sends, in one place: text fields, ids, date-times, the body.

Every free-form field of every request model is one of the text types below, so none can hold more
than its bound (a staff member once stored 5 MB in one resident's settings), a NUL (PostgreSQL text
cannot hold it) or an unpaired surrogate (not Unicode: it cannot be stored or even answered).
A field over its bound is a 422 naming it (``loc``); a body over :data:`MAX_BODY_BYTES` is a 413
before it is parsed at all.

Date-times are strict: RFC 3339 text only (times of day "HH:MM", as in the rule settings). Pydantic
alone would read ``to=0.5`` or ``"starts_at": 0`` as seconds since 1970 and ``date=0`` as 1970-01-01,
where the schema documents a date-time.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter

from eldercare.contracts.topics import HOME_ID_PATTERN
from eldercare.domain.rule_settings import TimeOfDay as TimeOfDay  # one definition for API bodies and rules

# The largest id a body or a path may name: 2**53 - 1, the largest integer a JSON number holds
# exactly everywhere (JavaScript included); ids come from sequences that will never reach it.
MAX_ID = 2**53 - 1
# The largest request body: ten emergency contacts at their bounds, the notes and every rule
# setting fit in a fifth of it.
MAX_BODY_BYTES = 64 * 1024

# Text PostgreSQL can store and JSON can carry: no NUL. (A pattern also makes pydantic-core refuse
# an unpaired surrogate, which Rust strings cannot hold, as ``string_unicode``.)
NO_NUL = r"^[^\x00]*$"
USERNAME_PATTERN = r"^[a-z0-9][a-z0-9._\-]{2,63}$"
DEVICE_ID_PATTERN = r"^[A-Za-z0-9_.:\-]{1,128}$"
EMAIL_PATTERN = r"^[^\x00@\s]+@[^\x00@\s]+$"

# Lengths, in characters.
NAME_MAX = 200
SHORT_NAME_MAX = 100
PHONE_MAX = 40
ADDRESS_MAX = 500
URL_MAX = 500
NOTE_MAX = 2000
SHORT_NOTE_MAX = 500
SECRET_MIN, SECRET_MAX = 8, 200
PASSWORD_MAX = 256
TOKEN_MAX = 200
CONTACTS_MAX = 10
LINKED_RESIDENTS_MAX = 20

Name = Annotated[str, Field(min_length=1, max_length=NAME_MAX, pattern=NO_NUL)]
NAME_SCHEMA = {"type": "string", "minLength": 1, "maxLength": NAME_MAX, "pattern": NO_NUL}
ShortName = Annotated[str, Field(min_length=1, max_length=SHORT_NAME_MAX, pattern=NO_NUL)]
Label = Annotated[str, Field(max_length=NAME_MAX, pattern=NO_NUL)]
Phone = Annotated[str, Field(max_length=PHONE_MAX, pattern=NO_NUL)]
Address = Annotated[str, Field(max_length=ADDRESS_MAX, pattern=NO_NUL)]
Email = Annotated[str, Field(max_length=NAME_MAX, pattern=EMAIL_PATTERN)]
Url = Annotated[str, Field(max_length=URL_MAX, pattern=NO_NUL)]
Target = Annotated[str, Field(min_length=3, max_length=URL_MAX, pattern=NO_NUL)]
Note = Annotated[str, Field(max_length=NOTE_MAX, pattern=NO_NUL)]
ShortNote = Annotated[str, Field(max_length=SHORT_NOTE_MAX, pattern=NO_NUL)]
Comment = Annotated[str, Field(min_length=1, max_length=NOTE_MAX, pattern=NO_NUL)]
Secret = Annotated[str, Field(min_length=SECRET_MIN, max_length=SECRET_MAX, pattern=NO_NUL)]
Password = Annotated[str, Field(min_length=10, max_length=PASSWORD_MAX, pattern=NO_NUL)]
RefreshToken = Annotated[str, Field(min_length=10, max_length=TOKEN_MAX, pattern=r"^[A-Za-z0-9_\-]+$")]
HomeIdValue = Annotated[str, Field(pattern=HOME_ID_PATTERN)]
IdValue = Annotated[int, Field(ge=1, le=MAX_ID)]


def _known_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None
    return name


# An IANA name this server knows. (Listed as an enum, the ~600 names made every fuzzer try each one.)
TimeZoneName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}$",
        examples=["Asia/Shanghai"],
        description="an IANA time zone name, e.g. Asia/Shanghai or UTC",
    ),
    AfterValidator(_known_zone),
]

_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([Zz]|[+-]\d{2}:?\d{2})?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _parsed_text(kind: type[Any], pattern: re.Pattern[str], what: str) -> Any:
    """Text in ``pattern`` parsed as ``kind`` (so a strict model takes it), a value of ``kind`` as it
    is (built in code), anything else refused: pydantic alone reads a number as seconds since 1970."""
    adapter: TypeAdapter[Any] = TypeAdapter(kind)

    def parse(value: Any) -> Any:
        if isinstance(value, kind):
            return value
        if isinstance(value, str) and pattern.fullmatch(value):
            return adapter.validate_python(value)
        raise ValueError(f"expected {what} as text")

    return BeforeValidator(parse)


DateTime = Annotated[
    AwareDatetime, _parsed_text(datetime, _DATE_TIME, "an RFC 3339 date-time with its offset, e.g. 2026-05-01T08:00:00+08:00")
]
Date = Annotated[date, _parsed_text(date, _DATE, "a calendar date, e.g. 2026-05-01")]


class Body(BaseModel):
    """Every request body: unknown fields refused, and JSON types taken as documented (strict: no
    ``"12"`` for 12, no ``false`` for 0, no ``0`` for false)."""

    model_config = ConfigDict(extra="forbid", strict=True)
