"""Encoding and decoding of contract v1 messages.

``decode`` never raises on bad input: whatever arrives from the network yields either a
:class:`Decoded` message or a :class:`Rejection` with a specific reason, which the receiver writes
to the dead-letter store. The happy path does a single pass of pydantic's JSON validator; the
slower diagnosis of *why* something failed runs only for rejected payloads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import TypeAdapter, ValidationError

from eldercare.contracts.payloads import KIND_BY_MODEL, MODEL_BY_KIND, Message
from eldercare.contracts.topics import MessageKind, Topic, TopicError

MAX_PAYLOAD_BYTES = 256 * 1024
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


@dataclass(frozen=True)
class Decoded:
    topic: Topic
    message: Message


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


def decode(topic: str, payload: bytes, *, root: str | None = None) -> Decoded | Rejection:
    """Decode one MQTT message; bad input gives a Rejection, never an exception."""
    try:
        parsed = Topic.parse(topic, root=root)
    except TopicError as exc:
        return Rejection(RejectReason.TOPIC_INVALID, str(exc), topic)
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
    return Decoded(parsed, message)


def _size_problem(payload: bytes) -> tuple[RejectReason, str] | None:
    if not payload:
        return RejectReason.PAYLOAD_EMPTY, "empty payload"
    if len(payload) > MAX_PAYLOAD_BYTES:
        return RejectReason.PAYLOAD_TOO_LARGE, f"{len(payload)} bytes, limit {MAX_PAYLOAD_BYTES}"
    return None


def _diagnose(payload: bytes, exc: ValidationError) -> tuple[RejectReason, str]:
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as err:
        return RejectReason.NOT_UTF8, f"invalid UTF-8 at byte {err.start}"
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        return RejectReason.NOT_JSON, f"{err.msg} at line {err.lineno} column {err.colno}"
    if not isinstance(document, dict):
        return RejectReason.NOT_AN_OBJECT, f"expected a JSON object, got {type(document).__name__}"
    errors = exc.errors(include_url=False, include_input=False)
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
