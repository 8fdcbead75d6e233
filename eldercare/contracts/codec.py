"""Encoding and decoding of contract v1 messages.

``decode`` never raises, whatever the bytes: what arrives from the network yields either a
:class:`Decoded` message or a :class:`Rejection` with a specific reason, which the receiver writes
to the dead-letter store. The happy path does a single pass of pydantic's JSON validator; the
diagnosis of *why* something failed runs only for rejected payloads.

Hostile input is bounded before or inside that one parser, never by Python's recursive ``json``
module (a 2 KB array nested 1,000 deep made ``json.loads`` raise ``RecursionError`` and crash-loop
ingest): the size is checked first; pydantic-core's parser (Rust) refuses nesting deeper than
``MAX_JSON_DEPTH``, integers longer than ``MAX_NUMBER_DIGITS`` digits and lone surrogates; numbers
beyond the float range become infinite and are refused as not finite. If the decoder still fails on
something, the one broad ``except`` below turns that into a ``decode_failed`` rejection of that one
message, so a decoder bug costs one message, never the process.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import TypeAdapter, ValidationError

from eldercare.contracts.payloads import KIND_BY_MODEL, MODEL_BY_KIND, Message
from eldercare.contracts.topics import DIRECTION, Direction, MessageKind, Topic, TopicError
from eldercare.contracts.window import TimeWindow, Verdict

MAX_PAYLOAD_BYTES = 256 * 1024
#: Bounds enforced by pydantic-core's JSON parser (tests/contracts/test_codec.py pins them).
MAX_JSON_DEPTH = 201
MAX_NUMBER_DIGITS = 4300
_ADAPTERS: dict[MessageKind, TypeAdapter[Any]] = {kind: TypeAdapter(model) for kind, model in MODEL_BY_KIND.items()}
_WRONG_TYPE_SUFFIXES = ("_type", "_parsing")


class RejectReason(StrEnum):
    """Why a message was not accepted. Stored in the dead-letter table; stable names."""

    TOPIC_INVALID = "topic_invalid"
    PAYLOAD_EMPTY = "payload_empty"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    NOT_UTF8 = "not_utf8"
    NOT_JSON = "not_json"
    NOT_AN_OBJECT = "not_an_object"
    UNKNOWN_FIELD = "unknown_field"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    INVALID_VALUE = "invalid_value"
    HOME_MISMATCH = "home_mismatch"
    # Decided by the receiver against its registry, not by the codec:
    UNKNOWN_HOME = "unknown_home"
    DEVICE_OF_OTHER_HOME = "device_of_other_home"
    WRONG_DIRECTION = "wrong_direction"
    # Valid by the contract, refused by the database (e.g. a number beyond a column's range):
    WRITE_FAILED = "write_failed"
    # The decoder itself failed on this message (a bug; the message is kept, the process goes on):
    DECODE_FAILED = "decode_failed"
    # The message crashed the receiving process on repeated deliveries (see ingest/quarantine.py):
    QUARANTINED = "quarantined"
    # A timestamp outside the window around the receive time (eldercare/contracts/window.py):
    TS_TOO_OLD = "ts_too_old"
    TS_IN_FUTURE = "ts_in_future"
    # The same (device, seq, ts) as a stored reading or event, with different content:
    DUPLICATE_CONFLICT = "duplicate_conflict"


@dataclass(frozen=True)
class Decoded:
    topic: Topic
    message: Message
    # An sos/fall event message whose timestamps lie outside the window: accepted, to be counted.
    outside_window: bool = False


@dataclass(frozen=True)
class Rejection:
    reason: RejectReason
    detail: str
    topic: str
    home_id: str | None = None


def encode(root: str, message: Message) -> tuple[str, bytes]:
    """The topic and the JSON bytes for ``message``."""
    kind = KIND_BY_MODEL[type(message)]
    topic = Topic(root, message.home_id, kind)
    return str(topic), message.model_dump_json(exclude_none=True).encode()


def decode(
    topic: str,
    payload: bytes,
    *,
    root: str | None = None,
    direction: Direction | None = None,
    window: TimeWindow | None = None,
) -> Decoded | Rejection:
    """Decode one MQTT message; bad input gives a Rejection, never an exception.

    With ``direction``, a kind that travels the other way is refused (``wrong_direction``): the
    platform receives only upstream kinds, a gateway only downstream ones. With ``window``, a
    message dated outside it is refused (``ts_too_old``, ``ts_in_future``; see window.py).
    """
    try:
        return decode_strict(topic, payload, root=root, direction=direction, window=window)
    except Exception as exc:  # noqa: BLE001 - isolates one message: the receiver dead-letters it and carries on
        return Rejection(RejectReason.DECODE_FAILED, f"the decoder failed: {type(exc).__name__}", topic)


def decode_strict(
    topic: str,
    payload: bytes,
    *,
    root: str | None = None,
    direction: Direction | None = None,
    window: TimeWindow | None = None,
) -> Decoded | Rejection:
    """:func:`decode` without its safety net: the fuzz tests call this, so a decoder bug shows."""
    try:
        parsed = Topic.parse(topic, root=root)
    except TopicError as exc:
        return Rejection(RejectReason.TOPIC_INVALID, str(exc), topic, exc.home_id)
    if direction is not None and DIRECTION[parsed.kind] is not direction:
        detail = f"{parsed.kind.value} is {DIRECTION[parsed.kind].value}: it may not be published this way"
        return Rejection(RejectReason.WRONG_DIRECTION, detail, topic, parsed.home_id)
    size_problem = _size_problem(payload)
    if size_problem is not None:
        return Rejection(size_problem[0], size_problem[1], topic, parsed.home_id)
    try:
        message = _ADAPTERS[parsed.kind].validate_json(payload)
    except ValidationError as exc:
        reason, detail = _diagnose(payload, exc)
        return Rejection(reason, detail, topic, parsed.home_id)
    if message.home_id != parsed.home_id:
        detail = f"payload home_id {message.home_id!r} contradicts topic home {parsed.home_id!r}"
        return Rejection(RejectReason.HOME_MISMATCH, detail, topic, parsed.home_id)
    verdict = window.judge(message) if window is not None else None
    if verdict is None:
        return Decoded(parsed, message)
    if verdict[0] is Verdict.ALARM_OUTSIDE:
        return Decoded(parsed, message, outside_window=True)
    return Rejection(RejectReason(verdict[0].value), verdict[1], topic, parsed.home_id)


def _size_problem(payload: bytes) -> tuple[RejectReason, str] | None:
    if not payload:
        return RejectReason.PAYLOAD_EMPTY, "empty payload"
    if len(payload) > MAX_PAYLOAD_BYTES:
        return RejectReason.PAYLOAD_TOO_LARGE, f"{len(payload)} bytes, limit {MAX_PAYLOAD_BYTES}"
    return None


# What pydantic-core's parser says when a bound is hit, and how we say it.
_PARSER_LIMITS = {
    "recursion limit exceeded": f"nested deeper than {MAX_JSON_DEPTH} levels",
    "number out of range": f"a number longer than {MAX_NUMBER_DIGITS} digits",
}
# The JSON type of a document, from its first significant byte (for "expected an object").
_JSON_TYPES = {ord("["): "array", ord('"'): "string", ord("t"): "boolean", ord("f"): "boolean", ord("n"): "null"}


def _diagnose(payload: bytes, exc: ValidationError) -> tuple[RejectReason, str]:
    """Why pydantic refused ``payload``: from its errors alone (the payload is never parsed again)."""
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    if first["type"] == "json_invalid":
        try:
            payload.decode("utf-8")
        except UnicodeDecodeError as err:
            return RejectReason.NOT_UTF8, f"invalid UTF-8 at byte {err.start}"
        problem = str(first.get("ctx", {}).get("error", first["msg"]))
        for needle, text in _PARSER_LIMITS.items():
            if needle in problem:
                return RejectReason.NOT_JSON, f"{text} ({problem})"
        return RejectReason.NOT_JSON, problem
    if first["type"] == "model_type" and not first["loc"]:
        start = payload.lstrip()[:1]
        got = _JSON_TYPES.get(start[0], "number") if start else "nothing"
        return RejectReason.NOT_AN_OBJECT, f"expected a JSON object, got {got}"
    # Report the most telling problem first: an unknown field explains a "missing" one beside it.
    ranked = sorted(errors, key=lambda err: _PRIORITY.index(_reason_for(err["type"])))
    first = ranked[0]
    where = ".".join(str(part) for part in first["loc"]) or "(payload)"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return _reason_for(first["type"]), f"{where}: {first['msg']}{more}"


_PRIORITY = (
    RejectReason.UNKNOWN_FIELD,
    RejectReason.WRONG_TYPE,
    RejectReason.MISSING_FIELD,
    RejectReason.INVALID_VALUE,
)


def _reason_for(error_type: str) -> RejectReason:
    if error_type == "extra_forbidden":
        return RejectReason.UNKNOWN_FIELD
    if error_type == "missing":
        return RejectReason.MISSING_FIELD
    if error_type.endswith(_WRONG_TYPE_SUFFIXES) or error_type in ("union_tag_invalid", "union_tag_not_found"):
        return RejectReason.WRONG_TYPE
    return RejectReason.INVALID_VALUE
