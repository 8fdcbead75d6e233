"""Ground truth, written as the simulation runs: one JSON line per injected incident.

    {"id": "sim-00003/fall/1772426700", "incident": "fall", "home": "sim-00003",
     "start": "2026-03-02T06:05:03.120000+00:00", "end": "...", "wall": 1772426703.51,
     "speed": 600.0, "detect": "fall", "also": [], "details": {"room": "kitchen", "signal": "synthetic"}}

``start`` is simulated time (the shared clock); ``wall`` is the UNIX time at which it was
injected. Each line is flushed at once, so a crash loses at most the incident being written.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from simulator.incidents import EXPECT, Incident


@dataclass(frozen=True)
class TruthRecord:
    id: str
    incident: str
    home: str
    start: datetime
    end: datetime
    wall: float
    speed: float
    detect: str | None
    also: tuple[str, ...]
    details: dict[str, Any]
    closed_as: str | None = None  # a false trigger: the fall candidate should be closed so

    def to_json(self) -> str:
        return json.dumps(
            {
                "id": self.id,
                "incident": self.incident,
                "home": self.home,
                "start": self.start.isoformat(),
                "end": self.end.isoformat(),
                "wall": round(self.wall, 3),
                "speed": self.speed,
                "detect": self.detect,
                "also": list(self.also),
                "details": self.details,
                "closed_as": self.closed_as,
            },
            sort_keys=True,
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, line: str) -> TruthRecord:
        data = json.loads(line)
        return cls(
            id=str(data["id"]),
            incident=str(data["incident"]),
            home=str(data["home"]),
            start=datetime.fromisoformat(data["start"]),
            end=datetime.fromisoformat(data["end"]),
            wall=float(data["wall"]),
            speed=float(data["speed"]),
            detect=data.get("detect"),
            also=tuple(data.get("also", ())),
            details=dict(data.get("details", {})),
            closed_as=data.get("closed_as"),
        )


class TruthWriter:
    def __init__(self, path: Path, *, speed: float) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.speed = speed
        self._file: IO[str] = path.open("a", encoding="utf-8")
        self.written = 0

    def record(self, home_id: str, incident: Incident, start: datetime, details: dict[str, Any]) -> TruthRecord:
        expect = EXPECT[incident.kind]
        end = max(incident.end, start)
        record = TruthRecord(
            id=f"{home_id}/{incident.kind.value}/{int(start.timestamp())}",
            incident=incident.kind.value,
            home=home_id,
            start=start,
            end=end,
            wall=time.time(),
            speed=self.speed,
            # A script may say the home detects it otherwise (a collapse the radar sees: still_present).
            detect=str(details["detect"]) if "detect" in details else expect.detect,
            also=expect.also,
            details=details,
            closed_as=expect.closed_as,
        )
        self._file.write(record.to_json() + "\n")
        self._file.flush()
        self.written += 1
        return record

    def close(self) -> None:
        self._file.close()


def read_truth(path: Path) -> list[TruthRecord]:
    with path.open(encoding="utf-8") as handle:
        return [TruthRecord.from_json(line) for line in handle if line.strip()]
