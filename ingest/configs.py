"""Each home's retained gateway config: built from the database, published by ingest.

A change to anything a config carries adds a row to ``home_config_outbox`` in the transaction
that makes it (triggers, 0080_home_config.sql), so a committed change is never lost with the
process that made it. Every ingest copy runs :meth:`ConfigPublisher.run`. Every
``config_poll_interval_s`` it takes the homes with pending changes that no other copy holds
(session advisory locks: one publisher per home at a time, so an older config is never retained
over a newer one), reads their outbox rows, builds each config and commits a new revision to
``home_configs`` when the content changed, publishes retained, waits for the broker's PUBACK, and
only then deletes the rows it read. Committed before it is sent, ``home_configs`` is never older
than what the broker may hold; a publisher that dies anywhere in between leaves the rows, and the
next round publishes the stored revision (or a newer one) again.

On start and every ``config_republish_interval_s`` every home is looked at again: a config whose
content changed without an outbox row (the operator changed ``ELDERCARE_GATEWAYS__*``) gets a new
revision, the others are published again exactly as stored (same revision: a gateway ignores it),
so a broker that lost its retained messages gets them back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from pydantic import ValidationError

from eldercare import logs
from eldercare.clock import Clock
from eldercare.config import Settings
from eldercare.contracts.codec import encode
from eldercare.contracts.payloads import MAX_DEVICES_PER_HEARTBEAT, GatewayConfig
from eldercare.contracts.topics import ORIGIN_PROPERTY, MessageKind, Topic
from eldercare.domain.rule_settings import lenient
from eldercare.errors import EldercareError
from eldercare.mqtt.edge_client import EdgeConnection, PublishRefusedError, connect_edge
from eldercare.retry import Backoff, cancelled_on_stop, sleep_until

_log = logs.get("ingest")

_PENDING_HOMES = "SELECT DISTINCT home_id FROM (SELECT home_id FROM home_config_outbox ORDER BY id LIMIT %s) o"
_ALL_HOMES = "SELECT id FROM homes WHERE id > %s ORDER BY id LIMIT %s"
# One publisher per home at a time (session advisory locks, key space (class, hash of the home id));
# a home another publisher holds is done by it, or in a later round.
# The class 1668247142 is "conf" in ASCII.
_TRY_LOCK = "SELECT id FROM unnest(%s::text[]) AS id WHERE pg_try_advisory_lock(1668247142, hashtext(id)) ORDER BY id"
_UNLOCK = "SELECT pg_advisory_unlock(1668247142, hashtext(id)) FROM unnest(%s::text[]) AS id"
_OUTBOX = "SELECT id FROM home_config_outbox WHERE home_id = ANY(%s)"
_DONE = "DELETE FROM home_config_outbox WHERE id = ANY(%s)"
# The alert engine judges a home by its first resident's rule settings (alerts/context.py): so does the config.
_STATE = """
SELECT h.id, h.timezone,
       (SELECT r.rule_settings FROM residents r WHERE r.home_id = h.id ORDER BY r.id LIMIT 1) AS rule_settings,
       (SELECT coalesce(json_agg(json_build_object('device', d.id, 'kind', d.kind, 'room', d.room) ORDER BY d.id), '[]')
          FROM (SELECT id, kind, room FROM devices WHERE home_id = h.id ORDER BY id LIMIT %(devices)s) d) AS devices,
       c.revision, c.payload, (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now_ms
  FROM homes h LEFT JOIN home_configs c ON c.home_id = h.id
 WHERE h.id = ANY(%(homes)s)
 ORDER BY h.id
"""
_SAVE = """
INSERT INTO home_configs (home_id, revision, payload, published_at) VALUES (%s, %s, %s, %s)
ON CONFLICT (home_id) DO UPDATE SET revision = EXCLUDED.revision, payload = EXCLUDED.payload,
                                    published_at = EXCLUDED.published_at
"""
_TOUCH = "UPDATE home_configs SET published_at = %s WHERE home_id = ANY(%s)"
_CONTENT_EXCLUDES = frozenset({"revision", "ts"})


@dataclass(frozen=True)
class Outgoing:
    home_id: str
    topic: str
    payload: bytes
    revision: int
    new: bool  # a new revision (False: the last one again)


def build_config(row: dict[str, Any], settings: Settings, now: datetime, revision: int) -> GatewayConfig:
    """The config of one home from its row of ``_STATE``; ValidationError when stored data does not fit."""
    rules, _ = lenient(row["rule_settings"])
    gateways = settings.gateways
    return GatewayConfig.model_validate(
        {
            "home_id": row["id"],
            "revision": revision,
            "ts": now,
            "timezone": row["timezone"],
            "heartbeat_interval_s": float(gateways.heartbeat_interval_s),
            "batch_max_readings": gateways.batch_max_readings,
            "batch_max_delay_s": float(gateways.batch_max_delay_s),
            "fall_detection_enabled": rules.fall.enabled,
            "devices": [{k: v for k, v in device.items() if v is not None} for device in row["devices"]],
        }
    )


def _content(config: GatewayConfig) -> dict[str, Any]:
    return config.model_dump(mode="json", exclude=set(_CONTENT_EXCLUDES))


def _stored(payload: bytes | None) -> GatewayConfig | None:
    if payload is None:
        return None
    try:
        return GatewayConfig.model_validate_json(payload)
    except ValidationError:
        return None  # saved by another version of the contract: a new revision replaces it


class ConfigPublisher:
    def __init__(self, settings: Settings, clock: Clock, *, client_id: str) -> None:
        self._settings = settings
        self._clock = clock
        self._client_id = client_id
        self._root = settings.mqtt.topic_root
        self._cfg = settings.ingest
        self.published = 0  # configs the broker acknowledged (new revisions and republished ones)

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until ``stop``; a lost broker or database is waited for with backoff, never fatal.

        On ``stop`` a round in progress is abandoned (rolled back: its rows stay in the outbox), so
        ingest's own drain is never held up by a broker that does not answer.
        """
        mqtt = self._settings.mqtt
        backoff = Backoff(mqtt.reconnect_min_s, mqtt.reconnect_max_s)
        while not stop.is_set():
            try:
                if await cancelled_on_stop(stop, self._session(stop, backoff)):
                    return
            except (EldercareError, psycopg.Error, OSError) as exc:
                delay = backoff.next_delay()
                _log.warning(
                    "config_publisher_waiting", error=type(exc).__name__, detail=str(exc)[:200], retry_in_s=round(delay, 2)
                )
                await sleep_until(stop, delay)
            except Exception:  # noqa: BLE001 - the task's boundary: a bug here must not stop ingest
                delay = backoff.next_delay()
                _log.exception("config_publisher_failed", retry_in_s=round(delay, 2))
                await sleep_until(stop, delay)

    async def _session(self, stop: asyncio.Event, backoff: Backoff) -> None:
        settings = self._settings
        async with (
            connect_edge(settings.mqtt, settings.mqtt_endpoint, client_id=self._client_id, persistent=False) as mqtt,
            await psycopg.AsyncConnection.connect(
                settings.database_url,
                connect_timeout=max(1, int(settings.db.connect_timeout_s)),
                autocommit=True,
                application_name="eldercare-ingest-config",
            ) as conn,
        ):
            await self.republish_all(conn, mqtt)  # on start: the broker may have lost what it retained
            backoff.reset()
            loop = asyncio.get_running_loop()
            next_republish = loop.time() + self._cfg.config_republish_interval_s
            while not stop.is_set():
                while await self.publish_pending(conn, mqtt) >= self._cfg.config_batch_size:
                    pass  # a full round: more may be waiting (homes another copy holds wait for the next poll)
                if loop.time() >= next_republish:
                    await self.republish_all(conn, mqtt)
                    next_republish = loop.time() + self._cfg.config_republish_interval_s
                await sleep_until(stop, self._cfg.config_poll_interval_s)

    async def publish_pending(self, conn: psycopg.AsyncConnection[Any], mqtt: EdgeConnection) -> int:
        """Publish the configs of homes with pending changes (one round); returns how many it published."""
        cur = await conn.execute(_PENDING_HOMES, (self._cfg.config_batch_size,))
        homes = [row[0] for row in await cur.fetchall()]
        async with self._locked(conn, homes) as locked:
            if not locked:
                return 0
            # Read before the state that _prepare reads (a later snapshot): every row deleted below
            # is a change the published config contains.
            outbox = [row[0] for row in await (await conn.execute(_OUTBOX, (locked,))).fetchall()]
            published = await self._publish(conn, mqtt, await self._prepare(conn, locked))
            await conn.execute(_DONE, (outbox,))
        return published

    async def republish_all(self, conn: psycopg.AsyncConnection[Any], mqtt: EdgeConnection) -> int:
        """Every home's config again, in rounds of ``config_batch_size`` homes; returns how many were published."""
        after, count = "", 0
        while True:
            homes = [row[0] for row in await (await conn.execute(_ALL_HOMES, (after, self._cfg.config_batch_size))).fetchall()]
            if not homes:
                break
            after = homes[-1]
            async with self._locked(conn, homes) as locked:
                count += await self._publish(conn, mqtt, await self._prepare(conn, locked))
        _log.info("config_republished", homes=count)
        return count

    @asynccontextmanager
    async def _locked(self, conn: psycopg.AsyncConnection[Any], homes: list[str]) -> AsyncIterator[list[str]]:
        """The homes of ``homes`` this publisher holds until the block ends (the others are another's now).

        Session locks, not a transaction's: a config's new revision is committed (by _prepare) before it is
        published, and no other publisher may publish the home in between. A dead connection drops them.
        """
        if not homes:
            yield []
            return
        locked = [row[0] for row in await (await conn.execute(_TRY_LOCK, (homes,))).fetchall()]
        try:
            yield locked
        finally:
            if locked:
                await conn.execute(_UNLOCK, (locked,))

    async def _prepare(self, conn: psycopg.AsyncConnection[Any], homes: Sequence[str]) -> list[Outgoing]:
        """What to publish for ``homes``, with every new revision committed first.

        Committed before publishing, what home_configs holds is never older than what the broker may
        have: a publisher that dies after publishing and before committing could otherwise leave an
        older revision to be republished over a newer one that gateways had applied.
        """
        if not homes:
            return []
        now = self._clock.now()
        async with conn.transaction():
            async with conn.cursor(row_factory=dict_row) as cur:
                await cur.execute(_STATE, {"homes": list(homes), "devices": MAX_DEVICES_PER_HEARTBEAT})
                state = await cur.fetchall()
            outgoing = [item for row in state if (item := await self._outgoing(conn, row, now)) is not None]
        return outgoing

    async def _publish(self, conn: psycopg.AsyncConnection[Any], mqtt: EdgeConnection, outgoing: list[Outgoing]) -> int:
        await asyncio.gather(*(self._send(mqtt, item) for item in outgoing))
        await conn.execute(_TOUCH, (self._clock.now(), [item.home_id for item in outgoing]))
        self.published += len(outgoing)
        for item in outgoing:
            if item.new:
                _log.info("config_published", home_id=item.home_id, revision=item.revision)
        return len(outgoing)

    async def _outgoing(self, conn: psycopg.AsyncConnection[Any], row: dict[str, Any], now: datetime) -> Outgoing | None:
        """A new revision when the home's config changed, else the last one again (None: nothing publishable)."""
        stored = _stored(row["payload"])
        # Milliseconds of the database's clock: revisions grow across a restore of the database too.
        revision = max(int(row["now_ms"]), int(row["revision"] or 0) + 1)
        try:
            config = build_config(row, self._settings, now, revision)
        except ValidationError as exc:
            # Data no config can carry (written by hand?): say so; the home keeps its last config.
            _log.error("config_invalid", home_id=row["id"], errors=[".".join(map(str, e["loc"])) for e in exc.errors()][:10])
            return None
        if stored is not None and _content(stored) == _content(config):
            topic = str(Topic(self._root, row["id"], MessageKind.CONFIG))
            return Outgoing(row["id"], topic, bytes(row["payload"]), stored.revision, new=False)
        topic, payload = encode(self._root, config)
        await conn.execute(_SAVE, (row["id"], revision, payload, now))
        return Outgoing(row["id"], topic, payload, revision, new=True)

    async def _send(self, mqtt: EdgeConnection, item: Outgoing) -> None:
        try:
            await mqtt.publish(
                item.topic,
                item.payload,
                retain=True,
                timeout_s=self._settings.mqtt.connect_timeout_s,
                user_properties=[ORIGIN_PROPERTY],
            )
        except PublishRefusedError as exc:
            # Not a connection problem, but nothing is published: roll back and try again later.
            _log.error("config_publish_refused", home_id=item.home_id, reason_code=exc.reason_code, reason=exc.reason_name)
            raise
