"""Wakes the live alert streams the moment an alert changes (LISTEN eldercare_alerts).

One connection per API process listens, outside the pool (:mod:`eldercare.db.listen`, the loop the
alert engine uses too); every open stream waits on
:meth:`AlertWakeups.wait` with its polling interval as the deadline. The trigger of migration 0070
sends one NOTIFY per changed alert's centre, so a new alert reaches the screens within one database
round trip instead of one polling interval. NOTIFY only wakes: a stream still reads the rows itself,
and polls anyway, so a lost connection or a missed notification delays an alert, never loses it.
"""

from __future__ import annotations

import asyncio
import contextlib

from eldercare.config import Settings
from eldercare.db.listen import Listener

CHANNEL = "eldercare_alerts"


class AlertWakeups:
    """A broadcast: each notification moves ``generation`` on and wakes every waiter.

    A stream notes the generation before it reads the alerts and waits for a later one, so a change
    notified while it was reading wakes it at once instead of waiting for the next poll.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.generation = 0
        self.listening = False

    def wake(self) -> None:
        self.generation += 1
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, seen: int, timeout_s: float) -> int:
        """Until a generation after ``seen`` (at once if there is one already) or ``timeout_s``; the generation then."""
        if self.generation == seen:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), timeout_s)
        return self.generation

    async def run(self, settings: Settings, stop: asyncio.Event) -> None:
        """LISTEN until ``stop``; reconnect with backoff on trouble (the streams' polling covers the gap)."""
        await Listener(
            CHANNEL, component="api", event="alert_wakeups", on_notify=self.wake, on_listen=self._listening, on_lost=self._lost
        ).run(settings, stop)

    def _listening(self) -> None:
        self.listening = True
        self.wake()  # whatever changed while nobody listened

    def _lost(self) -> None:
        self.listening = False
