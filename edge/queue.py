"""The gateway's disk queue (SQLite, WAL): messages waiting for their commit acknowledgement (or,
without one, their PUBACK), readings waiting for their batch, and sequence numbers.

A reading is written to the ``staged`` table the moment the agent accepts it (:meth:`DiskQueue.stage`),
so the readings of a batch that is still filling survive a crash or a power cut. Sealing a batch
(:meth:`DiskQueue.seal`) numbers its readings, renders one message and removes them from ``staged``
in one transaction. A message is committed together with the sequence numbers it used, so a crash
at any moment neither loses a queued message nor hands out a number twice. A message leaves the
queue only when the platform has acknowledged it (:meth:`DiskQueue.delete`): ingest's commit
acknowledgement, or the broker's PUBACK for a platform that sends none. The queue is therefore the
whole acknowledgement state: after ``kill -9`` everything still in it is sent again.

Bound policy, when ``max_messages`` are waiting: the OLDEST *readings* messages are dropped to
make room (sensor time series lose their oldest stretch first). Events and anything else are never
dropped; when the queue holds nothing but events it grows past the bound rather than lose one.
Every drop is counted and reported through ``on_drop`` (the agent logs a warning with counts).

Calls are synchronous: one small transaction per batch or event takes well under a millisecond
with ``sync="normal"``, and a gateway runs one agent per process with ``sync="full"``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

READINGS = "readings"

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        topic TEXT NOT NULL,
        payload BLOB NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS outbox_kind ON outbox (kind, id)",
    "CREATE TABLE IF NOT EXISTS seqs (device TEXT PRIMARY KEY, next_seq INTEGER NOT NULL)",
    # The platform's last config applied (one row): a restart without the broker starts from it.
    "CREATE TABLE IF NOT EXISTS config (id INTEGER PRIMARY KEY CHECK (id = 1), payload BLOB NOT NULL)",
    # Accepted readings not yet sealed into a message; `record` is the caller's encoding.
    """CREATE TABLE IF NOT EXISTS staged (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        device TEXT NOT NULL,
        record TEXT NOT NULL
    )""",
)
_INSERT = "INSERT INTO outbox (kind, topic, payload) VALUES (?, ?, ?)"
_PEEK = "SELECT id, topic, payload, kind FROM outbox WHERE id > ? ORDER BY id LIMIT ?"
_PEEK_KIND = "SELECT id, topic, payload, kind FROM outbox WHERE kind = ? AND id > ? ORDER BY id LIMIT ?"
_PEEK_OTHER = "SELECT id, topic, payload, kind FROM outbox WHERE kind <> ? AND id > ? ORDER BY id LIMIT ?"
_GET = "SELECT id, topic, payload, kind FROM outbox WHERE id = ?"
_OLDEST_READINGS = "SELECT id FROM outbox WHERE kind = ? ORDER BY id LIMIT ?"
_STAGE = "INSERT INTO staged (device, record) VALUES (?, ?)"
_STAGED = "SELECT id, device, record FROM staged ORDER BY id LIMIT ?"
_GET_SEQ = "SELECT next_seq FROM seqs WHERE device = ?"
_PUT_SEQ = "INSERT INTO seqs (device, next_seq) VALUES (?, ?) ON CONFLICT (device) DO UPDATE SET next_seq = excluded.next_seq"


_PUT_CONFIG = "INSERT INTO config (id, payload) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET payload = excluded.payload"


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    id: int
    topic: str
    payload: bytes
    kind: str = READINGS


@dataclass(frozen=True, slots=True)
class Dropped:
    """What one enqueue had to drop to stay within the bound."""

    messages: int
    depth: int


class DiskQueue:
    def __init__(
        self,
        path: Path,
        *,
        max_messages: int,
        sync: Literal["full", "normal"] = "full",
        on_drop: Callable[[Dropped], None] | None = None,
    ) -> None:
        if max_messages < 1:
            raise ValueError("max_messages must be at least 1")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.max_messages = max_messages
        self.on_drop = on_drop
        # isolation_level=None: we issue BEGIN/COMMIT ourselves so one transaction spans seqs + message.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'FULL' if sync == 'full' else 'NORMAL'}")
        for statement in _SCHEMA:
            self._db.execute(statement)
        self._depth: int = self._db.execute("SELECT count(*) FROM outbox").fetchone()[0]
        self._staged: int = self._db.execute("SELECT count(*) FROM staged").fetchone()[0]
        self._seq_cache: dict[str, int] = {}
        self.dropped_messages = 0

    @property
    def depth(self) -> int:
        """Messages waiting (including those sent but not yet acknowledged)."""
        return self._depth

    @property
    def staged(self) -> int:
        """Readings accepted and on disk, not yet sealed into a message."""
        return self._staged

    def stage(self, device: str, record: str) -> None:
        """Keep one accepted reading on disk until :meth:`seal` puts it in a message (one commit)."""
        self._db.execute(_STAGE, (device, record))  # autocommit: durable when this returns
        self._staged += 1

    def seal(self, kind: str, topic: str, limit: int, render: Callable[[list[str], list[int]], bytes]) -> int:
        """Queue the oldest ``limit`` staged readings as one message, atomically.

        ``render(records, seqs)`` gets the staged records in the order they were staged and one
        sequence number per record (per device, consecutive). Returns how many were sealed.
        """
        rows = self._db.execute(_STAGED, (limit,)).fetchall()
        if not rows:
            return 0
        records = [str(row[2]) for row in rows]
        self._enqueue(kind, topic, [str(row[1]) for row in rows], lambda seqs: render(records, seqs), int(rows[-1][0]))
        self._staged -= len(rows)
        return len(rows)

    def put(self, kind: str, topic: str, devices: Sequence[str], render: Callable[[list[int]], bytes]) -> list[int]:
        """Allocate one sequence number per entry of ``devices`` and queue ``render(seqs)``, atomically.

        ``devices`` may repeat a device: each occurrence gets the next number. Returns the numbers.
        """
        return self._enqueue(kind, topic, devices, render, None)

    def _enqueue(
        self, kind: str, topic: str, devices: Sequence[str], render: Callable[[list[int]], bytes], staged_upto: int | None
    ) -> list[int]:
        """One transaction: numbers, the message, room for it, and the staged rows it seals."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            seqs, updated = self._allocate(devices)
            payload = render(seqs)
            dropped = self._make_room() if self._depth >= self.max_messages else 0
            self._db.execute(_INSERT, (kind, topic, payload))
            if staged_upto is not None:
                self._db.execute("DELETE FROM staged WHERE id <= ?", (staged_upto,))
            self._db.executemany(_PUT_SEQ, updated.items())
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            self._seq_cache.clear()  # may hold numbers of the rolled-back transaction
            raise
        self._committed(updated, dropped)
        return seqs

    def _committed(self, updated: dict[str, int], dropped: int) -> None:
        self._seq_cache.update(updated)
        self._depth += 1 - dropped
        if dropped:
            self.dropped_messages += dropped
            if self.on_drop is not None:
                self.on_drop(Dropped(dropped, self._depth))

    def _allocate(self, devices: Sequence[str]) -> tuple[list[int], dict[str, int]]:
        updated: dict[str, int] = {}
        seqs: list[int] = []
        for device in devices:
            current = updated.get(device)
            if current is None:
                current = self.next_seq(device)
            seqs.append(current)
            updated[device] = current + 1
        return seqs, updated

    def next_seq(self, device: str) -> int:
        """The number the next reading or event of ``device`` will get."""
        cached = self._seq_cache.get(device)
        if cached is not None:
            return cached
        row = self._db.execute(_GET_SEQ, (device,)).fetchone()
        return int(row[0]) if row else 0

    def next_seqs(self) -> dict[str, int]:
        """Per device, the number its next reading or event will get (how many it has been given)."""
        return {str(device): int(upto) for device, upto in self._db.execute("SELECT device, next_seq FROM seqs")}

    def _make_room(self) -> int:
        excess = self._depth - self.max_messages + 1
        ids = [row[0] for row in self._db.execute(_OLDEST_READINGS, (READINGS, excess))]
        self._db.executemany("DELETE FROM outbox WHERE id = ?", ((i,) for i in ids))
        return len(ids)

    def save_config(self, payload: bytes) -> None:
        """Keep the config just applied (its encoded message), durably."""
        self._db.execute(_PUT_CONFIG, (payload,))

    def saved_config(self) -> bytes | None:
        row = self._db.execute("SELECT payload FROM config WHERE id = 1").fetchone()
        return bytes(row[0]) if row else None

    def peek(self, after_id: int, limit: int, *, kind: str | None = None, other_than: str | None = None) -> list[QueuedMessage]:
        """Up to ``limit`` messages with an id above ``after_id``, oldest first (only ``kind``, or all but ``other_than``)."""
        if kind is not None:
            rows = self._db.execute(_PEEK_KIND, (kind, after_id, limit)).fetchall()
        elif other_than is not None:
            rows = self._db.execute(_PEEK_OTHER, (other_than, after_id, limit)).fetchall()
        else:
            rows = self._db.execute(_PEEK, (after_id, limit)).fetchall()
        return [QueuedMessage(int(i), str(t), bytes(p), str(k)) for i, t, p, k in rows]

    def get(self, message_id: int) -> QueuedMessage | None:
        """The message with this id, or None when it has left the queue (acknowledged, or dropped by the bound)."""
        row = self._db.execute(_GET, (message_id,)).fetchone()
        return QueuedMessage(int(row[0]), str(row[1]), bytes(row[2]), str(row[3])) if row else None

    def delete(self, ids: Sequence[int]) -> None:
        """Forget acknowledged messages (ids already dropped are ignored)."""
        if not ids:
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            cursor = self._db.executemany("DELETE FROM outbox WHERE id = ?", ((i,) for i in ids))
            removed = cursor.rowcount
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._depth -= removed

    def close(self) -> None:
        self._db.close()
