"""A batch in the making: decoded deliveries, bounded by readings, messages and age."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from eldercare.contracts import Decoded, Rejection
from eldercare.contracts.payloads import EventBatch, GatewayStatus, ReadingBatch
from eldercare.mqtt.manual_ack import Delivery


@dataclass(frozen=True, slots=True)
class Skip:
    """A delivery this lane acknowledges without storing anything: another lane's kind (the bulk lane
    subscribes to the whole root) or the platform's own downstream publish."""

    why: str


@dataclass(frozen=True, slots=True)
class Item:
    delivery: Delivery
    result: Decoded | Rejection | Skip


@dataclass
class Batch:
    """Items in arrival order; ``urgent`` once it holds an event or a gateway status."""

    items: list[Item] = field(default_factory=list)
    readings: int = 0
    urgent: bool = False
    started: float = 0.0  # monotonic time of the first item
    # A redelivered message handled alone: its ingest_attempts row, deleted when the batch commits.
    attempt: bytes | None = None

    def add(self, delivery: Delivery, result: Decoded | Rejection | Skip) -> None:
        if not self.items:
            self.started = time.monotonic()
        self.items.append(Item(delivery, result))
        if isinstance(result, Decoded):
            message = result.message
            if isinstance(message, ReadingBatch):
                self.readings += len(message.readings)
            elif isinstance(message, EventBatch | GatewayStatus):
                self.urgent = True  # an alert may hang on it: do not wait for the time bound
        # Every message counts at least one toward the size bound, so a stream of rejects or of
        # heartbeats is bounded too.
        self.readings += 0 if isinstance(result, Decoded) and isinstance(result.message, ReadingBatch) else 1

    def halves(self) -> tuple[Batch, Batch]:
        """The first and second half of the items, in order (to isolate a message the database refuses)."""
        middle = len(self.items) // 2
        return _of(self.items[:middle], self.started), _of(self.items[middle:], self.started)

    def __len__(self) -> int:
        return len(self.items)

    def age_s(self) -> float:
        return time.monotonic() - self.started if self.items else 0.0


def _of(items: list[Item], started: float) -> Batch:
    batch = Batch(started=started)
    for item in items:
        batch.add(item.delivery, item.result)
    batch.started = started
    return batch
