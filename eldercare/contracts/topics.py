"""Topic scheme, version 1.

    {root}/v1/{home_id}/{kind}

``home_id`` sits at a fixed level (the third) and equals the gateway's MQTT username, so broker
ACL patterns on ``%u`` confine every home to its own topics.

``kind`` says what the payload is, and each kind has one :class:`Direction`: ``readings``,
``events``, ``status`` and ``heartbeat`` are *upstream* (gateway to platform); ``config`` (retained) and
``ack`` (ingest's commit acknowledgements, see :mod:`eldercare.contracts.acks`) are *downstream*
(platform to gateway). The ACLs derive from the directions: a gateway may publish
its upstream kinds and read its downstream kinds, nothing else, so it cannot overwrite its own
config. Ingest receives everything under the root and dead-letters what a gateway may not publish
(``topic_invalid``, ``wrong_direction``); the platform marks its own downstream publishes with the
:data:`ORIGIN_PROPERTY` user property so that ingest can tell them from a gateway's on a broker
without ACLs. Topics are built and parsed only here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

VERSION = "v1"
HOME_ID_PATTERN = r"^[a-z0-9][a-z0-9_\-]{1,63}$"
_HOME_ID = re.compile(HOME_ID_PATTERN)
_ROOT = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


class MessageKind(StrEnum):
    READINGS = "readings"
    EVENTS = "events"
    STATUS = "status"
    HEARTBEAT = "heartbeat"
    CONFIG = "config"
    ACK = "ack"


class Direction(StrEnum):
    UPSTREAM = "upstream"  # gateway -> platform
    DOWNSTREAM = "downstream"  # platform -> gateway


#: Who publishes each kind. Every kind has exactly one direction.
DIRECTION: dict[MessageKind, Direction] = {
    MessageKind.READINGS: Direction.UPSTREAM,
    MessageKind.EVENTS: Direction.UPSTREAM,
    MessageKind.STATUS: Direction.UPSTREAM,
    MessageKind.HEARTBEAT: Direction.UPSTREAM,
    MessageKind.CONFIG: Direction.DOWNSTREAM,
    MessageKind.ACK: Direction.DOWNSTREAM,
}
#: What a gateway publishes; the platform subscribes to these.
UPSTREAM_KINDS = tuple(kind for kind in MessageKind if DIRECTION[kind] is Direction.UPSTREAM)
#: What the platform publishes to a gateway; a gateway may read these and never write them.
DOWNSTREAM_KINDS = tuple(kind for kind in MessageKind if DIRECTION[kind] is Direction.DOWNSTREAM)
#: MQTT 5 user property (name, value) on every message the platform publishes.
ORIGIN_PROPERTY = ("eldercare-origin", "platform")


class TopicError(ValueError):
    """A topic string that does not follow the scheme; the message says which part is wrong.

    ``home_id`` is the home the topic names at its fixed level, when it names one validly (a wrong
    kind under a home's own tree is still that home's dead letter).
    """

    def __init__(self, message: str, home_id: str | None = None) -> None:
        super().__init__(message)
        self.home_id = home_id


def valid_home_id(home_id: str) -> bool:
    return bool(_HOME_ID.match(home_id))


@dataclass(frozen=True)
class Topic:
    """A parsed, valid topic."""

    root: str
    home_id: str
    kind: MessageKind

    def __post_init__(self) -> None:
        if not _ROOT.match(self.root):
            raise TopicError(f"invalid topic root {self.root!r}")
        if not valid_home_id(self.home_id):
            raise TopicError(f"invalid home id {self.home_id!r}: lowercase letters, digits, '-' and '_', 2-64 long")

    def __str__(self) -> str:
        return f"{self.root}/{VERSION}/{self.home_id}/{self.kind.value}"

    @classmethod
    def parse(cls, topic: str, *, root: str | None = None) -> Topic:
        """Parse ``topic``; when ``root`` is given the topic must be under it."""
        levels = topic.split("/")
        home = levels[2] if len(levels) >= 3 and valid_home_id(levels[2]) else None
        if root is not None and levels[0] != root:
            raise TopicError(f"topic root {levels[0]!r} is not {root!r}")
        if len(levels) != 4:
            raise TopicError(f"expected 4 levels root/{VERSION}/home_id/kind, got {len(levels)}", home)
        topic_root, version, home_id, kind = levels
        if version != VERSION:
            raise TopicError(f"unsupported contract version {version!r} (this build speaks {VERSION})", home)
        try:
            message_kind = MessageKind(kind)
        except ValueError:
            raise TopicError(f"unknown message kind {kind!r}", home) from None
        return cls(topic_root, home_id, message_kind)


def subscription(root: str, kind: MessageKind | None = None, *, home_id: str = "+") -> str:
    """A subscription filter: one kind (or every kind) of one home (or every home)."""
    return f"{root}/{VERSION}/{home_id}/{kind.value if kind else '+'}"


def shared_subscription(group: str, topic_filter: str) -> str:
    """MQTT 5 shared subscription: the broker spreads messages over every member of ``group``."""
    return f"$share/{group}/{topic_filter}"


def acl_patterns(root: str) -> list[str]:
    """Mosquitto ACL file lines confining every gateway (username = home id) to its own topics.

    One line per kind: ``write`` for upstream kinds, ``read`` for downstream ones. (A broad
    ``readwrite .../%u/#`` would let a gateway overwrite its own retained config, and Mosquitto's
    ``deny`` removes reading too.) Anything else is refused by the broker (PUBACK 0x87 in MQTT 5).
    """
    access = {Direction.UPSTREAM: "write", Direction.DOWNSTREAM: "read"}
    return [f"pattern {access[DIRECTION[kind]]} {root}/{VERSION}/%u/{kind.value}" for kind in MessageKind]


def home_topic(root: str, kind: MessageKind, *, home_id: str) -> str:
    """The topic of one kind of one home, or an MQTT pattern when ``home_id`` is ``+`` or ``%u``."""
    return f"{root}/{VERSION}/{home_id}/{kind.value}"


def everything(root: str) -> str:
    """The filter for every topic under the root, valid or not (ingest dead-letters the invalid)."""
    return f"{root}/#"
