"""One batch, one transaction: rows, dead letters, latest state and the alert hand-over together.

Rows are locked late and in one order in every ingest copy and lane: readings and events (unique
keys), then devices (by id), then home_state (by home id). A deadlock that remains possible (two
copies holding the same redelivered message) is reported as transient and the batch retried.
The urgent lane writes devices and home_state in a second transaction after the events commit, so
an SOS never waits for the row locks of a readings batch; a crash in between is repaired by the
redelivery (the events deduplicate, the state is newest-wins).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import psycopg

from eldercare.contracts import Decoded, Rejection, RejectReason
from eldercare.contracts.payloads import EventBatch, Message, ReadingBatch
from eldercare.db.pool import translate
from eldercare.domain import liveness
from ingest import sql
from ingest.batch import Batch, Item
from ingest.rows import DeviceUpdate, HomeUpdate, Rows, build_rows, device_ids, event_rows, reading_rows

SOURCE = "ingest"
# The constants of each device's learned reporting rhythm (sql.UPDATE_DEVICES).
_LIVENESS = {
    "back_after": timedelta(seconds=liveness.SLACK_S),  # no device's silence limit is shorter
    "longest_gap_s": liveness.LONGEST_LEARNED_GAP_S,
    "min_learned": liveness.MIN_LEARNED_GAPS,
    "min_history": timedelta(seconds=liveness.MIN_HISTORY_S),
    "outage_factor": liveness.OUTAGE_FACTOR,
    "half_life_s": liveness.HALF_LIFE_S,
}
_OFFLOAD_AT = 8  # messages; smaller batches are built inline (a thread hop costs ~0.1 ms)
WRITE_FAILED = RejectReason.WRITE_FAILED.value  # the dead-letter reason of a message the database refused


@dataclass
class WriteResult:
    messages: int = 0
    readings_staged: int = 0
    readings_new: int = 0
    events_new: int = 0
    statuses_new: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)
    reading_hours: set[int] = field(default_factory=set)  # UNIX hours touched, for the rollup
    deferred_state: list[Rows] = field(default_factory=list)  # still to write (Store(defer_state=True))
    clock_offsets_s: list[float] = field(default_factory=list)  # per home with a heartbeat in the batch
    # id() of each dead-lettered message's Delivery -> its reason (the commit acknowledgement names them).
    rejected: dict[int, str] = field(default_factory=dict)

    @property
    def duplicates(self) -> int:
        return self.readings_staged - self.readings_new

    def merged(self, other: WriteResult) -> WriteResult:
        return WriteResult(
            messages=self.messages + other.messages,
            readings_staged=self.readings_staged + other.readings_staged,
            readings_new=self.readings_new + other.readings_new,
            events_new=self.events_new + other.events_new,
            statuses_new=self.statuses_new + other.statuses_new,
            dead_letters=self.dead_letters + other.dead_letters,
            reading_hours=self.reading_hours | other.reading_hours,
            deferred_state=self.deferred_state + other.deferred_state,
            clock_offsets_s=self.clock_offsets_s + other.clock_offsets_s,
            rejected=self.rejected | other.rejected,
        )


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    home_id: str | None
    payload: bytes
    reason: str
    detail: str
    key: int = 0  # id() of the message's Delivery


class Store:
    """The writer's own connection (temp staging tables live per session) and the batch transaction."""

    def __init__(
        self, database_url: str, *, connect_timeout_s: float, statement_timeout_s: float, defer_state: bool = False
    ) -> None:
        # defer_state: devices and home_state are written after the batch commits (write_state), so
        # the urgent lane's events never wait for row locks that a big readings batch holds.
        self._defer_state = defer_state
        self._url = database_url
        self._connect_timeout_s = connect_timeout_s
        self._statement_timeout_ms = int(statement_timeout_s * 1000)
        self._conn: psycopg.AsyncConnection | None = None
        self._homes: set[str] = set()  # registered homes seen so far; homes are not unregistered

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def _connection(self) -> psycopg.AsyncConnection:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        conn = await psycopg.AsyncConnection.connect(
            self._url, autocommit=True, connect_timeout=max(1, int(self._connect_timeout_s)), application_name="eldercare-ingest"
        )
        try:
            await conn.execute(f"SET statement_timeout = {self._statement_timeout_ms}")  # an int we computed
            await conn.execute(sql.SESSION_SETUP)
        except BaseException:
            await conn.close()
            raise
        self._conn = conn
        return conn

    async def write(self, batch: Batch, now: datetime) -> WriteResult:
        """Commit ``batch``. Raises TransientError (retry it), DatabaseRefusedError (some message in it
        is unstorable: isolate it) or PermanentError. Nothing is acknowledged here."""
        try:
            conn = await self._connection()
            async with conn.transaction():
                result, homes = await _write(conn, batch, now, self._homes, defer_state=self._defer_state)
        except BaseException as exc:
            raise await self._translate(exc) from exc
        self._homes |= homes  # only after commit: a rolled-back batch proves nothing
        return result

    async def begin_run(self, client_id: str, now: datetime) -> bool:
        """Mark the session running; True when its previous process died without a clean stop."""
        params = {"client_id": client_id, "now": now}
        try:
            conn = await self._connection()
            async with conn.transaction():
                row = await (await conn.execute(sql.PREVIOUS_RUN, params)).fetchone()
                await conn.execute(sql.BEGIN_RUN, params)
        except BaseException as exc:
            raise await self._translate(exc) from exc
        return bool(row and row[0])

    async def end_run(self, client_id: str, now: datetime) -> None:
        """The clean stop: everything held was committed and acknowledged."""
        try:
            conn = await self._connection()
            await conn.execute(sql.END_RUN, {"client_id": client_id, "now": now})
        except BaseException as exc:
            raise await self._translate(exc) from exc

    async def record_attempt(self, digest: bytes, now: datetime) -> int:
        """Count one more attempt at a redelivered message, committed before it is processed."""
        try:
            conn = await self._connection()
            cur = await conn.execute(sql.RECORD_ATTEMPT, {"digest": digest, "now": now})
            row = await cur.fetchone()
        except BaseException as exc:
            raise await self._translate(exc) from exc
        assert row is not None
        return int(row[0])

    async def write_state(self, deferred: list[Rows], now: datetime) -> None:
        """The latest-state part of committed batches (idempotent: newest wins, so a repeat is harmless)."""
        try:
            conn = await self._connection()
            async with conn.transaction(), conn.cursor() as cur:
                for rows in deferred:
                    await _update_state(cur, rows, now)
        except BaseException as exc:
            raise await self._translate(exc) from exc

    async def write_failed(self, item: Item, error: str, now: datetime, *, attempt: bytes | None = None) -> WriteResult:
        """Dead-letter one message the database refused (reason ``write_failed``), in its own transaction."""
        letter = DeadLetter(item.delivery.topic, _home_of(item), item.delivery.payload, WRITE_FAILED, error, id(item.delivery))
        try:
            conn = await self._connection()
            async with conn.transaction(), conn.cursor() as cur:
                await _insert_dead_letters(cur, [letter], now)
                if attempt is not None:
                    await cur.execute(sql.FORGET_ATTEMPT, (attempt,))
        except BaseException as exc:
            raise await self._translate(exc) from exc
        return WriteResult(messages=1, dead_letters=Counter({WRITE_FAILED: 1}), rejected={letter.key: WRITE_FAILED})

    async def _translate(self, exc: BaseException) -> BaseException:
        """A refused value (DatabaseRefusedError) fails forever: the caller isolates and dead-letters it."""
        if not isinstance(exc, psycopg.Error | OSError):
            return exc
        await self._discard_broken()
        return translate(exc)

    async def _discard_broken(self) -> None:
        if self._conn is not None and (self._conn.closed or self._conn.broken):
            await self.close()


async def _write(
    conn: psycopg.AsyncConnection, batch: Batch, now: datetime, cached_homes: set[str], *, defer_state: bool
) -> tuple[WriteResult, set[str]]:
    result = WriteResult(messages=len(batch))
    dead = [_contract_dead_letter(item) for item in batch.items if isinstance(item.result, Rejection)]
    decoded = [item for item in batch.items if isinstance(item.result, Decoded)]
    homes = await _known_homes(conn, decoded, cached_homes)
    accepted, rejected, rows = await _accept(conn, decoded, homes, now)
    dead.extend(rejected)
    async with conn.cursor() as cur:
        result.readings_staged = len(rows.readings)
        result.readings_new = await _insert_readings(cur, rows, now)
        result.events_new = await _insert_events(cur, rows, now)
        conflicts = set()
        if result.readings_new < len(rows.readings):  # some were there already: the same, or not?
            conflicts |= await _conflicts(cur, sql.READING_CONFLICTS)
        if result.events_new < len(rows.events):
            conflicts |= await _conflicts(cur, sql.EVENT_CONFLICTS)
        if conflicts:
            dead.extend(_conflict_letters(accepted, conflicts))
        if defer_state:
            result.deferred_state = [rows]
        else:
            await _update_state(cur, rows, now)
        result.statuses_new = await _apply_statuses(cur, rows, now)
        await _insert_dead_letters(cur, dead, now)
        if batch.attempt is not None:
            await cur.execute(sql.FORGET_ATTEMPT, (batch.attempt,))
        if result.events_new or result.statuses_new:
            await cur.execute(sql.NOTIFY_INBOX)  # delivered at commit; the engine also polls
    result.dead_letters.update(letter.reason for letter in dead)
    result.rejected = {letter.key: letter.reason for letter in dead}
    result.reading_hours = rows.hours
    result.clock_offsets_s = [home.clock_offset_s for home in rows.homes.values() if home.clock_offset_s is not None]
    return result, homes


Staged = tuple[object, ...]  # a staged row, as ingest_readings / ingest_events hold it


async def _conflicts(cur: psycopg.AsyncCursor[tuple[object, ...]], query: str) -> set[Staged]:
    await cur.execute(query)
    return {tuple(row) for row in await cur.fetchall()}


def _conflict_letters(items: list[Item], conflicts: set[Staged]) -> list[DeadLetter]:
    """The messages holding a conflicting duplicate: dead-lettered, their other rows stored."""
    letters = []
    for item in items:
        message = _message(item)
        staged = (
            reading_rows(message)
            if isinstance(message, ReadingBatch)
            else event_rows(message)
            if isinstance(message, EventBatch)
            else []
        )
        clashing = [row for row in staged if tuple(row) in conflicts]
        if clashing:
            device, seq, ts = clashing[0][1], clashing[0][2], clashing[0][3]
            assert isinstance(ts, datetime)
            detail = (
                f"device {device!r} seq {seq} ts {ts.isoformat()} is stored with different content: a resend must repeat"
                f" a reading or event exactly ({len(clashing)} conflicting in this message, the rest stored)"
            )
            letters.append(_dead(item, message.home_id, RejectReason.DUPLICATE_CONFLICT, detail))
    return letters


def _contract_dead_letter(item: Item) -> DeadLetter:
    rejection = item.result
    assert isinstance(rejection, Rejection)
    return DeadLetter(
        item.delivery.topic, rejection.home_id, item.delivery.payload, rejection.reason.value, rejection.detail, id(item.delivery)
    )


async def _known_homes(conn: psycopg.AsyncConnection, decoded: list[Item], cached: set[str]) -> set[str]:
    wanted = {_message(item).home_id for item in decoded} - cached
    found: set[str] = set(cached)
    if wanted:
        cur = await conn.execute(sql.KNOWN_HOMES, (sorted(wanted),))
        found.update(row[0] for row in await cur.fetchall())
    return found


async def _accept(
    conn: psycopg.AsyncConnection, decoded: list[Item], homes: set[str], now: datetime
) -> tuple[list[Item], list[DeadLetter], Rows]:
    """Split messages into accepted and dead letters, and register the accepted ones' new devices."""
    named = sorted({device for item in decoded if _message(item).home_id in homes for device in device_ids(_message(item))})
    cur = await conn.execute(sql.DEVICE_OWNERS, (named,))
    owners: dict[str, str] = {row[0]: row[1] for row in await cur.fetchall()}
    while True:
        accepted, rejected = _verdicts(decoded, homes, owners)
        messages = [_message(item) for item in accepted]
        # Building rows for a big batch takes tens of ms: off the event loop, so the urgent lane runs.
        rows = await asyncio.to_thread(build_rows, messages, now) if len(messages) >= _OFFLOAD_AT else build_rows(messages, now)
        new = [update for update in rows.devices.values() if update.device_id not in owners]
        registered = await _register(conn, new)
        owners.update({update.device_id: update.home_id for update in new if update.device_id in registered})
        lost = {update.device_id for update in new} - registered
        if not lost:
            return accepted, rejected, rows
        # Another copy registered one of these devices first, perhaps to another home: look again.
        cur = await conn.execute(sql.DEVICE_OWNERS, (sorted(lost),))
        owners.update({row[0]: row[1] for row in await cur.fetchall()})


def _verdicts(decoded: list[Item], homes: set[str], owners: dict[str, str]) -> tuple[list[Item], list[DeadLetter]]:
    accepted: list[Item] = []
    rejected: list[DeadLetter] = []
    for item in decoded:
        message = _message(item)
        home = message.home_id
        if home not in homes:
            rejected.append(_dead(item, home, RejectReason.UNKNOWN_HOME, f"home {home!r} is not registered"))
            continue
        foreign = sorted(device for device in device_ids(message) if owners.get(device, home) != home)
        if foreign:
            detail = f"device {foreign[0]!r} is registered to another home"
            rejected.append(_dead(item, home, RejectReason.DEVICE_OF_OTHER_HOME, detail))
            continue
        accepted.append(item)
    return accepted, rejected


def _dead(item: Item, home: str, reason: RejectReason, detail: str) -> DeadLetter:
    return DeadLetter(item.delivery.topic, home, item.delivery.payload, reason.value, detail, id(item.delivery))


def _home_of(item: Item) -> str | None:
    if isinstance(item.result, Decoded):
        return item.result.message.home_id
    return item.result.home_id if isinstance(item.result, Rejection) else None


def _message(item: Item) -> Message:
    assert isinstance(item.result, Decoded)
    return item.result.message


async def _register(conn: psycopg.AsyncConnection, new: list[DeviceUpdate]) -> set[str]:
    """Register devices on first sight; returns the ids registered here (the rest someone else did meanwhile)."""
    if not new:
        return set()
    new.sort(key=lambda update: update.device_id)
    columns = (
        [u.device_id for u in new],
        [u.home_id for u in new],
        [u.kind for u in new],
        [u.room for u in new],
        [u.first_seen_at for u in new],
    )
    cur = await conn.execute(sql.REGISTER_DEVICES, columns)
    return {row[0] for row in await cur.fetchall()}


async def _insert_readings(cur: psycopg.AsyncCursor[tuple[object, ...]], rows: Rows, now: datetime) -> int:
    return await _stage_and_insert(cur, rows.readings, sql.COPY_READINGS, sql.READING_TYPES, sql.INSERT_READINGS, now)


async def _insert_events(cur: psycopg.AsyncCursor[tuple[object, ...]], rows: Rows, now: datetime) -> int:
    return await _stage_and_insert(cur, rows.events, sql.COPY_EVENTS, sql.EVENT_TYPES, sql.INSERT_EVENTS, now)


async def _stage_and_insert(
    cur: psycopg.AsyncCursor[tuple[object, ...]],
    staged: Sequence[Sequence[object]],
    copy_statement: str,
    types: Sequence[str],
    insert_statement: str,
    now: datetime,
) -> int:
    """Binary COPY into the staging table, then INSERT ... ON CONFLICT DO NOTHING; rows inserted."""
    if not staged:
        return 0
    async with cur.copy(copy_statement) as copy:
        copy.set_types(types)
        for row in staged:
            await copy.write_row(row)
    await cur.execute(insert_statement, {"now": now})
    return cur.rowcount


async def _update_state(cur: psycopg.AsyncCursor[tuple[object, ...]], rows: Rows, now: datetime) -> None:
    """Devices, then homes (the lock order): a home whose device health changed is marked for judging."""
    for home_id in await _update_devices(cur, rows.devices.values()):
        rows.home(home_id).judge = True
    await _upsert_homes(cur, rows.homes.values(), now)


async def _update_devices(cur: psycopg.AsyncCursor[tuple[object, ...]], updates: Iterable[DeviceUpdate]) -> set[str]:
    """Apply the devices' latest state; returns the homes where a battery, a flag or an availability
    changed (their alert rules may judge differently)."""
    ordered = sorted(updates, key=lambda u: u.device_id)
    if not ordered:
        return set()
    await cur.execute(
        sql.UPDATE_DEVICES,
        {
            "ids": [u.device_id for u in ordered],
            "homes": [u.home_id for u in ordered],
            "seen_at": [u.seen_at for u in ordered],
            "rooms": [u.room for u in ordered],
            "battery_pct": [u.battery_pct for u in ordered],
            "battery_at": [u.battery_at for u in ordered],
            "signal_lqi": [u.signal_lqi for u in ordered],
            "battery_low": [u.battery_low for u in ordered],
            "tamper": [u.tamper for u in ordered],
            "availability": [u.availability for u in ordered],
            "availability_at": [u.availability_at for u in ordered],
            "metric": [u.metric for u in ordered],
            "value": [u.value for u in ordered],
            "value_at": [u.value_at for u in ordered],
            **_LIVENESS,
        },
    )
    return {str(home) for home, changed in await cur.fetchall() if changed}


async def _upsert_homes(cur: psycopg.AsyncCursor[tuple[object, ...]], updates: Iterable[HomeUpdate], now: datetime) -> None:
    ordered = sorted(updates, key=lambda u: u.home_id)
    if not ordered:
        return
    await cur.execute(
        sql.UPSERT_HOME_STATE,
        (
            now,
            [u.home_id for u in ordered],
            [u.activity_at for u in ordered],
            [u.motion_at for u in ordered],
            [u.motion_room for u in ordered],
            [u.door_at for u in ordered],
            [u.door_state for u in ordered],
            [u.heartbeat_at for u in ordered],
            [u.queue_depth for u in ordered],
            [u.clock_offset_s for u in ordered],
            [u.judge for u in ordered],
        ),
    )


async def _apply_statuses(cur: psycopg.AsyncCursor[tuple[object, ...]], rows: Rows, now: datetime) -> int:
    """Gateway state per status message, in arrival order; each change goes to the alert inbox."""
    changed = 0
    for status in rows.statuses:
        lost = status.state == "offline" and status.reason == "connection_lost"
        ts = now if lost else status.ts
        params = {"home": status.home_id, "state": status.state, "ts": ts, "session": status.ts, "now": now}
        await cur.execute(sql.UPSERT_GATEWAY_LOST if lost else sql.UPSERT_GATEWAY_STATE, params)
        if await cur.fetchone() is None:
            continue  # the same status again (a redelivery): the engine has it already
        params["data"] = json.dumps({"state": status.state, "reason": status.reason})
        await cur.execute(sql.INSERT_STATUS_INBOX, params)
        changed += 1
    return changed


async def _insert_dead_letters(cur: psycopg.AsyncCursor[tuple[object, ...]], dead: list[DeadLetter], now: datetime) -> None:
    if not dead:
        return
    async with cur.copy(sql.COPY_DEAD_LETTERS) as copy:
        copy.set_types(sql.DEAD_LETTER_TYPES)
        for letter in dead:
            await copy.write_row((now, SOURCE, letter.topic, letter.home_id, letter.payload, letter.reason, letter.detail))
