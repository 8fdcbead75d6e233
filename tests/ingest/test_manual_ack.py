"""The manual-acknowledgement subscriber: what is not acknowledged comes back, what is does not."""

from __future__ import annotations

from collections.abc import Callable

from eldercare.config import Settings
from eldercare.contracts.topics import shared_subscription
from eldercare.mqtt import connect
from eldercare.mqtt.manual_ack import Delivery, ManualAckSubscriber


async def _collect(subscriber: ManualAckSubscriber, count: int) -> list[Delivery]:
    got: list[Delivery] = []
    for _ in range(200):
        got.extend(await subscriber.get_many(count - len(got), 0.1))
        if len(got) >= count:
            return got
    raise AssertionError(f"received {len(got)} of {count}")


async def _subscribed(subscriber: ManualAckSubscriber) -> None:
    for _ in range(200):
        if subscriber.subscribed.is_set():
            return
        await subscriber.get_many(1, 0.05)
    raise AssertionError("not subscribed")


async def test_unacknowledged_messages_are_redelivered_to_the_resumed_session(
    make_settings: Callable[..., Settings], topic_root: str
) -> None:
    settings = make_settings()
    filters = [shared_subscription("acktest", f"{topic_root}/#")]

    def subscriber() -> ManualAckSubscriber:
        return ManualAckSubscriber(settings, client_id=f"ack-{topic_root}", topic_filters=filters, receive_maximum=10)

    async with subscriber() as first:
        await _subscribed(first)
        async with connect(settings, client_id=f"pub-{topic_root}") as publisher:
            for index in range(4):
                await publisher.publish(f"{topic_root}/m", str(index).encode(), qos=1)
        received = await _collect(first, 4)
        assert [d.payload for d in received] == [b"0", b"1", b"2", b"3"]
        assert first.ack(received[:2]) == 2  # 0 and 1 committed; 2 and 3 were "in the batch" at the crash
        assert first.unacknowledged == 2

    async with subscriber() as second:
        again = await _collect(second, 2)
        assert [d.payload for d in again] == [b"2", b"3"]
        # Deliveries of the earlier connection are never acknowledged on this one: their ids are void.
        assert second.ack(received[2:]) == 0
        assert second.ack(again) == 2
        assert second.unacknowledged == 0

    async with subscriber() as third:
        assert await third.get_many(10, 0.5) == []
