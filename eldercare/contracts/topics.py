"""Topic scheme, version 1.

    {root}/v1/{home_id}/{kind}

``home_id`` sits at a fixed level (the third) and equals the gateway's MQTT username, so one broker
ACL line confines every home to its own topics:

    pattern readwrite eldercare/v1/%u/#

``kind`` says what the payload is: ``readings``, ``events``, ``status`` and ``heartbeat`` go from the
gateway to the platform; ``config`` (retained) goes from the platform to the gateway. Topics are
built and parsed only here.
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


#: What a gateway publishes; the platform subscribes to these.
UPSTREAM_KINDS = (MessageKind.READINGS, MessageKind.EVENTS, MessageKind.STATUS, MessageKind.HEARTBEAT)


class TopicError(ValueError):
    """A topic string that does not follow the scheme; the message says which part is wrong."""


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
        if len(levels) != 4:
            raise TopicError(f"expected 4 levels root/{VERSION}/home_id/kind, got {len(levels)}")
        topic_root, version, home_id, kind = levels
        if root is not None and topic_root != root:
            raise TopicError(f"topic root {topic_root!r} is not {root!r}")
        if version != VERSION:
            raise TopicError(f"unsupported contract version {version!r} (this build speaks {VERSION})")
        try:
            message_kind = MessageKind(kind)
        except ValueError:
            raise TopicError(f"unknown message kind {kind!r}") from None
        return cls(topic_root, home_id, message_kind)


def subscription(root: str, kind: MessageKind | None = None, *, home_id: str = "+") -> str:
    """A subscription filter: one kind (or every kind) of one home (or every home)."""
    return f"{root}/{VERSION}/{home_id}/{kind.value if kind else '+'}"


def shared_subscription(group: str, topic_filter: str) -> str:
    """MQTT 5 shared subscription: the broker spreads messages over every member of ``group``."""
    return f"$share/{group}/{topic_filter}"


def acl_pattern(root: str) -> str:
    """The one Mosquitto ACL line that confines a gateway (username = home id) to its own topics."""
    return f"pattern readwrite {root}/{VERSION}/%u/#"
