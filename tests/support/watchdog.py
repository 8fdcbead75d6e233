"""An outside dead-man's switch (what healthchecks.io or Uptime Kuma do): a real HTTP receiver of
heartbeat pings that raises its alarm once none has come for ``grace_s``."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from tests.alerts.support import WebhookReceiver


@dataclass
class Watchdog:
    grace_s: float
    receiver: WebhookReceiver = field(default_factory=WebhookReceiver)
    alarmed_at: float | None = None  # UNIX time the alarm was raised
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return self.receiver.url

    @property
    def pings(self) -> list[float]:
        """UNIX time of each ping."""
        return [received.at for received in self.receiver.received]

    def start(self) -> Watchdog:
        self.receiver.start()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        """Armed by the first ping; alarms when the last one is older than the grace period."""
        while not self._stop.wait(0.05):
            pings = self.pings
            if pings and self.alarmed_at is None and time.time() - pings[-1] > self.grace_s:
                self.alarmed_at = time.time()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.receiver.stop()
