"""The API during a chaos run: a care-staff screen polling the alert list, as the dashboard does."""

from __future__ import annotations

import threading
import time
from collections import Counter

import httpx


class ApiWatch:
    """Polls ``GET /api/v1/alerts`` every ``period_s`` with an admin token; counts the answers by kind."""

    def __init__(self, base_url: str, username: str, password: str, period_s: float = 2.0) -> None:
        self.base_url = base_url
        self.username = username
        self.password = password
        self.period_s = period_s
        self.answers: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="chaos-api-watch")

    def __enter__(self) -> ApiWatch:
        with httpx.Client(base_url=self.base_url, timeout=10) as client:
            response = client.post("/api/v1/auth/token", data={"username": self.username, "password": self.password})
            response.raise_for_status()
            self._token = str(response.json()["access_token"])
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=15)

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self._token}"}
        with httpx.Client(base_url=self.base_url, timeout=5, headers=headers) as client:
            while not self._stop.wait(self.period_s):
                try:
                    code = client.get("/api/v1/alerts", params={"limit": 50}).status_code
                    self.answers["ok" if code == 200 else "503 unavailable" if code == 503 else f"HTTP {code}"] += 1
                except httpx.TimeoutException:
                    self.answers["timed out"] += 1
                except httpx.HTTPError as exc:
                    self.answers[type(exc).__name__] += 1
                time.sleep(0)
