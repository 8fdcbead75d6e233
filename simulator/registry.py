"""The simulated homes in the database: a care centre, homes and their residents; broker credentials.

When the broker runs dynamic security (``ELDERCARE_API__BROKER_ADMIN_*`` set), each home is
registered through :mod:`eldercare.domain.homes` exactly as the API registers a real one: an argon2
hash in the database, the password pushed to the broker. A home that already exists gets fresh
credentials (the password is shown only once, and the simulator does not keep it). Without a
broker admin the broker is anonymous: homes are inserted in bulk with no credentials, which is
how 10,000 homes register in seconds instead of the ~0.1 s per home argon2 and dynsec cost.

Only a caller that connects gateways asks for credentials (``credentials=True``, the default: the
live simulator). The backfill writes rows and connects nothing: it registers with
``credentials=False``, which adds missing homes without credentials and leaves existing homes'
credentials alone, so backfilling under a running demo does not lock its gateways out of the broker
(a rotation there once did: every gateway then failed to reconnect). A home added without
credentials gets them from the next ``credentials=True`` registration, as any existing home does.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg

from eldercare import logs
from eldercare.config import Settings
from eldercare.domain.homes import add_homes_without_credentials, register_home, rotate_credentials
from eldercare.domain.residents import NewResident, add_residents_where_missing, set_rule_settings
from eldercare.mqtt.dynsec import BrokerAdmin

log = logs.get("simulator")
CARE_CENTRE_NAME = "模拟社区养老服务中心 Simulated Community Care Centre"
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN = ("秀英", "桂英", "秀兰", "玉兰", "淑珍", "建国", "国强", "志明", "德华", "淑芬", "凤英", "文华", "永福", "金花", "宝山")

_RELATIONS = ("女儿 daughter", "儿子 son", "侄女 niece", "邻居 neighbour")
_STREETS = ("幸福路", "和平里", "长寿街", "松鹤巷", "桂花园")
CENTRE_PHONE = "+86 21 5555 0000"

_FIND_CENTRE = "SELECT id FROM care_centres WHERE name = %s ORDER BY id LIMIT 1"
_ADD_CENTRE = "INSERT INTO care_centres (name, timezone, phone) VALUES (%s, %s, %s) RETURNING id"
_EXISTING = "SELECT id FROM homes WHERE id = ANY(%s)"


@dataclass(frozen=True)
class Registration:
    care_centre_id: int
    passwords: dict[str, str | None]  # home id -> MQTT password (None on an anonymous broker)
    created: int


def resident_name(seed: int, home_id: str) -> tuple[str, int]:
    rng = random.Random(f"{seed}:{home_id}:name")
    return rng.choice(_SURNAMES) + rng.choice(_GIVEN), rng.randint(1936, 1956)


@dataclass(frozen=True)
class Card:
    """What the demo's resident card shows: made up, deterministic per home."""

    born: date
    phone: str | None
    contacts: list[dict[str, str]]
    address: str
    access: str


def resident_card(seed: int, home_id: str) -> Card:
    rng = random.Random(f"{seed}:{home_id}:card")
    name, year = resident_name(seed, home_id)

    def number() -> str:
        return f"+86 139 {rng.randint(0, 9999):04d} {rng.randint(0, 9999):04d}"

    contacts = [
        {"name": name[0] + rng.choice(_GIVEN), "relation": relation, "phone": number()}
        for relation in rng.sample(_RELATIONS, rng.randint(1, 2))
    ]
    # One resident in ten has no phone of their own: the console must cope with that too.
    phone = None if rng.random() < 0.1 else f"+86 21 {rng.randint(0, 9999):04d} {rng.randint(0, 9999):04d}"
    address = f"{rng.choice(_STREETS)} {rng.randint(1, 99)} 号 {rng.randint(1, 6)}0{rng.randint(1, 4)} 室"
    access = rng.choice(("钥匙盒在门边，密码 " + str(rng.randint(1000, 9999)), "邻居 302 室有备用钥匙", "门禁卡在物业"))
    return Card(date(year, rng.randint(1, 12), rng.randint(1, 28)), phone, contacts, address, access)


async def register(
    settings: Settings,
    home_ids: list[str],
    *,
    now: datetime,
    rule_settings: dict[str, Any] | None = None,
    credentials: bool = True,
) -> Registration:
    """Make sure every home exists with a resident; return the credentials to connect with
    (with ``credentials=False``: none, and no existing home's credentials change)."""
    sim = settings.simulator
    broker = BrokerAdmin.from_settings(settings) if credentials else None
    async with await psycopg.AsyncConnection.connect(settings.database_url, connect_timeout=10) as conn:
        centre = await _care_centre(conn, sim.timezone)
        existing = {row[0] for row in await (await conn.execute(_EXISTING, (home_ids,))).fetchall()}
        passwords: dict[str, str | None] = dict.fromkeys(home_ids)
        if broker is None:
            missing = {h: f"模拟家庭 Simulated home {h}" for h in home_ids if h not in existing}
            await add_homes_without_credentials(conn, missing, care_centre_id=centre, timezone=sim.timezone, now=now)
        else:
            for home_id in home_ids:
                passwords[home_id] = await _credentials(conn, settings, broker, home_id, centre, home_id in existing, now)
                await conn.commit()
        await _residents(conn, settings.simulator.seed, home_ids, rule_settings)
        await conn.commit()
    created = len(home_ids) - len(existing)
    log.info("simulator_homes_registered", homes=len(home_ids), created=created, broker_credentials=broker is not None)
    return Registration(centre, passwords, created)


async def _care_centre(conn: psycopg.AsyncConnection[Any], timezone: str) -> int:
    row = await (await conn.execute(_FIND_CENTRE, (CARE_CENTRE_NAME,))).fetchone()
    if row is None:
        row = await (await conn.execute(_ADD_CENTRE, (CARE_CENTRE_NAME, timezone, CENTRE_PHONE))).fetchone()
    assert row is not None
    return int(row[0])


async def _credentials(
    conn: psycopg.AsyncConnection[Any],
    settings: Settings,
    broker: BrokerAdmin,
    home_id: str,
    centre: int,
    exists: bool,
    now: datetime,
) -> str:
    root = settings.mqtt.topic_root
    if exists:
        return (await rotate_credentials(conn, home_id=home_id, broker=broker, topic_root=root, now=now)).password
    label = f"模拟家庭 Simulated home {home_id}"
    creds = await register_home(
        conn,
        home_id=home_id,
        care_centre_id=centre,
        broker=broker,
        topic_root=root,
        now=now,
        label=label,
        timezone=settings.simulator.timezone,
    )
    return creds.password


async def _residents(conn: psycopg.AsyncConnection[Any], seed: int, home_ids: list[str], rules: dict[str, Any] | None) -> None:
    def make(home_id: str) -> NewResident:
        card = resident_card(seed, home_id)
        return NewResident(
            home_id, resident_name(seed, home_id)[0], card.born, card.phone, card.contacts, card.address, card.access
        )

    await add_residents_where_missing(conn, home_ids, make, rules)
    if rules is not None:
        await set_rule_settings(conn, home_ids, rules)
