"""After a batch commits: one commit acknowledgement per home in it (eldercare/contracts/acks.py).

Published on the lane's own MQTT session, QoS 0 and without waiting: an acknowledgement lost on the
way (the broker restarting, the gateway away) only means the gateway sends those messages again,
and the unique key makes the resend a no-op here. Every reading and event the batch held is
acknowledged: new, already stored (a resend), or dead-lettered with its reason.
"""

from __future__ import annotations

from datetime import datetime

from eldercare.contracts import Decoded, Rejection, RejectReason
from eldercare.contracts.acks import HomeOutcome, commit_acks, numbers_of, publisher_home, salvage_numbers
from eldercare.contracts.codec import encode
from eldercare.contracts.topics import ORIGIN_PROPERTY
from eldercare.mqtt.manual_ack import ManualAckSubscriber
from ingest.batch import Batch, Item, Skip

#: Never read again: the payload crashed ingest, perhaps in the parser the salvage would use.
_UNREAD = frozenset({RejectReason.QUARANTINED})


def outcomes(batch: Batch, rejected: dict[int, str]) -> dict[str, HomeOutcome]:
    """Per home (the topic's, i.e. the publisher's), the numbers this batch stored and dead-lettered."""
    found: dict[str, HomeOutcome] = {}
    for item in batch.items:
        numbered = _numbered(item)
        if numbered is None:
            continue
        home, numbers = numbered
        outcome = found.setdefault(home, HomeOutcome())
        reason = rejected.get(id(item.delivery))
        if reason is None and isinstance(item.result, Rejection):
            reason = item.result.reason.value  # every rejection is dead-lettered; named here should the map miss it
        if reason is None:
            outcome.committed.update(numbers)
        else:
            outcome.dead[reason].update(numbers)
    return found


def _numbered(item: Item) -> tuple[str, list[tuple[str, int]]] | None:
    result = item.result
    if isinstance(result, Skip):
        return None
    if isinstance(result, Decoded):
        numbers = numbers_of(result.message)
        home: str | None = result.topic.home_id
    elif result.reason in _UNREAD:
        return None
    else:
        numbers = salvage_numbers(item.delivery.payload)
        home = publisher_home(item.delivery.topic)
    return (home, numbers) if numbers and home is not None else None


class CommitAcker:
    def __init__(self, subscriber: ManualAckSubscriber, root: str) -> None:
        self._subscriber = subscriber
        self._root = root
        self.published = 0
        self.unsent = 0  # the session was down: the gateways will resend, and be acknowledged then

    def send(self, batch: Batch, rejected: dict[int, str], now: datetime) -> int:
        """Publish the batch's acknowledgements; returns how many were handed to the broker session."""
        sent = 0
        for home, outcome in outcomes(batch, rejected).items():
            for ack in commit_acks(home, now, outcome):
                topic, payload = encode(self._root, ack)
                if self._subscriber.publish(topic, payload, qos=0, user_properties=[ORIGIN_PROPERTY]):
                    sent += 1
                else:
                    self.unsent += 1
        self.published += sent
        return sent
