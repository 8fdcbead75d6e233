"""CSV for spreadsheets: the one writer of every export (the district figures, the shift handover).

UTF-8 with a byte-order mark, so Excel opens Chinese text as Chinese; CRLF rows; every cell quoted;
a cell a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab, CR) is prefixed with
``'`` and stays text (CSV injection: a resident's note or a centre's name is typed by people).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime

from fastapi import Response

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
MEDIA_TYPE = "text/csv; charset=utf-8"


def cell(value: object) -> str:
    """A value as spreadsheet text; numbers stay numbers (a negative number is not a formula)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(round(value, 1)) if isinstance(value, float) else str(value)
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def render(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow([cell(h) for h in header])
    writer.writerows([cell(v) for v in row] for row in rows)
    return "\ufeff" + out.getvalue()


def response(filename: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Response:
    """The CSV as a download named ``filename`` (ASCII: it travels in a header)."""
    return Response(
        render(header, rows),
        media_type=MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )
