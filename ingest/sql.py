"""The SQL ingest owns. Values are always parameters; arrays go through unnest()."""

from __future__ import annotations

# client_connection_check_interval: when an ingest process dies while its statement waits (on a
# lock, say), the server ends that transaction within a second instead of holding its row locks
# until the wait is over, so the restarted process is not blocked by its predecessor's ghost.
SESSION_SETUP = """
SET client_connection_check_interval = 1000;
CREATE TEMP TABLE IF NOT EXISTS ingest_readings (
    home_id text, device_id text, seq bigint, ts timestamptz, metric text, value double precision, room text
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS ingest_events (
    home_id text, device_id text, seq bigint, ts timestamptz, type text, room text, data text
) ON COMMIT DELETE ROWS;
"""

READING_TYPES = ["text", "text", "int8", "timestamptz", "text", "float8", "text"]
EVENT_TYPES = ["text", "text", "int8", "timestamptz", "text", "text", "text"]
DEAD_LETTER_TYPES = ["timestamptz", "text", "text", "text", "bytea", "text", "text"]

COPY_READINGS = "COPY ingest_readings FROM STDIN (FORMAT BINARY)"
COPY_EVENTS = "COPY ingest_events FROM STDIN (FORMAT BINARY)"
COPY_DEAD_LETTERS = "COPY dead_letters (received_at, source, topic, home_id, payload, reason, detail) FROM STDIN (FORMAT BINARY)"

# (device_id, seq, ts) is the tables' unique key: a redelivered reading is skipped, not duplicated.
INSERT_READINGS = """
INSERT INTO readings (home_id, device_id, seq, ts, metric, value, room, received_at)
SELECT home_id, device_id, seq, ts, metric, value, room, %(now)s FROM ingest_readings
ON CONFLICT (device_id, seq, ts) DO NOTHING
"""

# Only events that are new reach the alert engine, so a redelivered fall never counts twice.
INSERT_EVENTS = """
WITH new AS (
    INSERT INTO events (home_id, device_id, seq, ts, type, room, data, received_at)
    SELECT home_id, device_id, seq, ts, type, room, data::jsonb, %(now)s FROM ingest_events
    ON CONFLICT (device_id, seq, ts) DO NOTHING
    RETURNING home_id, device_id, seq, ts, type, room, data
)
INSERT INTO alert_inbox (home_id, device_id, seq, ts, type, room, data, received_at)
SELECT home_id, device_id, seq, ts, type, room, data, %(now)s FROM new ORDER BY ts, device_id, seq
"""

# Run only when an insert skipped rows: the staged rows (whole) whose key is stored with different
# content (a resend must repeat a reading exactly; the first stored wins, the other is dead-lettered).
# Rows inserted by this transaction are visible here, so two conflicting copies in one batch show too.
READING_CONFLICTS = """
SELECT DISTINCT s.home_id, s.device_id, s.seq, s.ts, s.metric, s.value, s.room FROM ingest_readings s
  JOIN readings r ON r.device_id = s.device_id AND r.seq = s.seq AND r.ts = s.ts
 WHERE (r.home_id, r.metric, r.value, r.room) IS DISTINCT FROM (s.home_id, s.metric, s.value, s.room)
"""
EVENT_CONFLICTS = """
SELECT DISTINCT s.home_id, s.device_id, s.seq, s.ts, s.type, s.room, s.data FROM ingest_events s
  JOIN events e ON e.device_id = s.device_id AND e.seq = s.seq AND e.ts = s.ts
 WHERE (e.home_id, e.type, e.room, e.data) IS DISTINCT FROM (s.home_id, s.type, s.room, s.data::jsonb)
"""

KNOWN_HOMES = "SELECT id FROM homes WHERE id = ANY(%s)"

# No row lock here: held for a whole readings batch it would stall the urgent lane's events of the
# same device. Device ownership never changes once registered, so a plain read is enough.
DEVICE_OWNERS = "SELECT id, home_id FROM devices WHERE id = ANY(%s)"

REGISTER_DEVICES = """
INSERT INTO devices (id, home_id, kind, room, first_seen_at, last_seen_at)
SELECT id, home_id, kind, room, first_seen_at, first_seen_at
  FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::timestamptz[])
       AS u(id, home_id, kind, room, first_seen_at)
 ORDER BY id
ON CONFLICT (id) DO NOTHING
RETURNING id
"""

# The gap since the device's previous report, and whether it is learned as part of its rhythm
# (eldercare.domain.liveness.learn_gap is the same arithmetic, and says why). Fragments of our own
# text, concatenated once at import; every value is a parameter.
_GAP = "extract(epoch FROM GREATEST(u.seen_at, u.value_at) - d.last_seen_at)"
_LEARN = (
    "(" + _GAP + " > 0 AND " + _GAP + " <= %(longest_gap_s)s"
    " AND (d.gaps_learned < %(min_learned)s OR d.last_seen_at - d.first_seen_at < %(min_history)s"
    " OR " + _GAP + " <= %(outage_factor)s * d.usual_gap_s))"
)
# Newest wins, field by field; NULL means "this batch says nothing about it". ``old`` is the row as
# the statement found it: RETURNING says per device whether what the alert rules read of its health
# changed, so that only then is its home marked for judging: its battery, flags or availability; a
# report after a silence long enough that the device may have been judged offline (no silence limit
# is shorter, eldercare.domain.liveness); its own rhythm replacing its kind's default (the limit may
# shrink).
UPDATE_DEVICES = (
    """
UPDATE devices AS d SET
    last_seen_at  = GREATEST(d.last_seen_at, u.seen_at, u.value_at),
    room          = CASE WHEN u.room IS NOT NULL AND GREATEST(u.seen_at, u.value_at) >= d.last_seen_at THEN u.room
                         ELSE coalesce(d.room, u.room) END,
    battery_pct   = CASE WHEN u.battery_at >= coalesce(d.battery_at, '-infinity') THEN u.battery_pct ELSE d.battery_pct END,
    battery_at    = GREATEST(d.battery_at, u.battery_at),
    signal_lqi    = coalesce(u.signal_lqi, d.signal_lqi),
    battery_low   = coalesce(u.battery_low, d.battery_low),
    tamper        = coalesce(u.tamper, d.tamper),
    availability  = CASE WHEN u.availability_at >= coalesce(d.availability_at, '-infinity') THEN u.availability
                         ELSE d.availability END,
    availability_at = GREATEST(d.availability_at, u.availability_at),
    usual_gap_s   = CASE WHEN """
    + _LEARN
    + " THEN GREATEST("
    + _GAP
    + ", coalesce(d.usual_gap_s, 0) * power(0.5, "
    + _GAP
    + """ / %(half_life_s)s)) ELSE d.usual_gap_s END,
    gaps_learned  = d.gaps_learned + CASE WHEN """
    + _LEARN
    + """ THEN 1 ELSE 0 END,
    last_metric   = CASE WHEN u.value_at >= coalesce(d.last_value_at, '-infinity') THEN u.metric ELSE d.last_metric END,
    last_value    = CASE WHEN u.value_at >= coalesce(d.last_value_at, '-infinity') THEN u.value ELSE d.last_value END,
    last_value_at = GREATEST(d.last_value_at, u.value_at)
  FROM (SELECT * FROM unnest(%(ids)s::text[], %(homes)s::text[], %(seen_at)s::timestamptz[], %(rooms)s::text[],
                             %(battery_pct)s::real[], %(battery_at)s::timestamptz[], %(signal_lqi)s::smallint[],
                             %(battery_low)s::bool[], %(tamper)s::bool[], %(availability)s::text[],
                             %(availability_at)s::timestamptz[], %(metric)s::text[], %(value)s::float8[],
                             %(value_at)s::timestamptz[])
                AS u(id, home_id, seen_at, room, battery_pct, battery_at, signal_lqi, battery_low, tamper, availability,
                     availability_at, metric, value, value_at)
         ORDER BY id) AS u
 , devices AS old
 WHERE d.id = u.id AND d.home_id = u.home_id AND old.id = d.id
RETURNING d.home_id,
          d.battery_pct IS DISTINCT FROM old.battery_pct OR d.battery_low IS DISTINCT FROM old.battery_low
          OR d.tamper IS DISTINCT FROM old.tamper OR d.availability IS DISTINCT FROM old.availability
          OR old.last_seen_at < d.last_seen_at - %(back_after)s
          OR (d.gaps_learned >= %(min_learned)s AND d.last_seen_at - d.first_seen_at >= %(min_history)s)
             IS DISTINCT FROM (old.gaps_learned >= %(min_learned)s AND old.last_seen_at - old.first_seen_at >= %(min_history)s)
"""
)

UPSERT_HOME_STATE = """
INSERT INTO home_state AS h (home_id, last_activity_at, last_motion_at, last_motion_room, last_door_at, last_door_state,
                             last_heartbeat_at, queue_depth, clock_offset_s, updated_at, judge_pending)
SELECT home_id, activity_at, motion_at, motion_room, door_at, door_state, heartbeat_at, queue_depth, clock_offset_s, %s, judge
  FROM unnest(%s::text[], %s::timestamptz[], %s::timestamptz[], %s::text[], %s::timestamptz[], %s::text[],
              %s::timestamptz[], %s::int[], %s::float8[], %s::bool[])
       AS u(home_id, activity_at, motion_at, motion_room, door_at, door_state, heartbeat_at, queue_depth, clock_offset_s, judge)
 ORDER BY home_id
ON CONFLICT (home_id) DO UPDATE SET
    judge_pending     = h.judge_pending OR EXCLUDED.judge_pending,
    last_activity_at  = GREATEST(h.last_activity_at, EXCLUDED.last_activity_at),
    last_motion_room  = CASE WHEN EXCLUDED.last_motion_at >= coalesce(h.last_motion_at, '-infinity')
                             THEN EXCLUDED.last_motion_room ELSE h.last_motion_room END,
    last_motion_at    = GREATEST(h.last_motion_at, EXCLUDED.last_motion_at),
    last_door_state   = CASE WHEN EXCLUDED.last_door_at >= coalesce(h.last_door_at, '-infinity')
                             THEN EXCLUDED.last_door_state ELSE h.last_door_state END,
    last_door_at      = GREATEST(h.last_door_at, EXCLUDED.last_door_at),
    queue_depth       = CASE WHEN EXCLUDED.last_heartbeat_at >= coalesce(h.last_heartbeat_at, '-infinity')
                             THEN EXCLUDED.queue_depth ELSE h.queue_depth END,
    clock_offset_s    = CASE WHEN EXCLUDED.last_heartbeat_at >= coalesce(h.last_heartbeat_at, '-infinity')
                             THEN EXCLUDED.clock_offset_s ELSE h.clock_offset_s END,
    last_heartbeat_at = GREATEST(h.last_heartbeat_at, EXCLUDED.last_heartbeat_at),
    updated_at        = EXCLUDED.updated_at
"""

# A redelivered status (same state, same ts) changes nothing and reaches the alert engine once.
UPSERT_GATEWAY_STATE = """
INSERT INTO home_state AS h (home_id, gateway_state, gateway_state_at, updated_at)
VALUES (%(home)s, %(state)s, %(ts)s, %(now)s)
ON CONFLICT (home_id) DO UPDATE SET
    gateway_state = EXCLUDED.gateway_state, gateway_state_at = EXCLUDED.gateway_state_at, updated_at = EXCLUDED.updated_at
 WHERE h.gateway_state IS DISTINCT FROM EXCLUDED.gateway_state
    OR h.gateway_state_at IS DISTINCT FROM EXCLUDED.gateway_state_at
RETURNING home_id
"""

# A last will ("offline", reason connection_lost) was composed when the gateway connected, so its
# ts is the session's start, not the moment the connection was lost: date it by its arrival instead.
# It only ever turns a home offline once; a redelivered or re-sent retained will changes nothing.
# The online status carries the same session start as ts, so a will older than the online status
# held belongs to an earlier session (the broker publishes it when a new connection takes over the
# client id, possibly after the new session's online): it changes nothing either.
UPSERT_GATEWAY_LOST = """
INSERT INTO home_state AS h (home_id, gateway_state, gateway_state_at, updated_at)
VALUES (%(home)s, 'offline', %(now)s, %(now)s)
ON CONFLICT (home_id) DO UPDATE SET
    gateway_state = 'offline', gateway_state_at = EXCLUDED.gateway_state_at, updated_at = EXCLUDED.updated_at
 WHERE h.gateway_state IS DISTINCT FROM 'offline'
   AND NOT (h.gateway_state = 'online' AND h.gateway_state_at > %(session)s)
RETURNING home_id
"""

INSERT_STATUS_INBOX = """
INSERT INTO alert_inbox (home_id, ts, type, data, received_at)
VALUES (%(home)s, %(ts)s, 'gateway_status', %(data)s::jsonb, %(now)s)
"""

NOTIFY_INBOX = "SELECT pg_notify('eldercare_inbox', '')"

SCHEMA_VARIANT = "SELECT variant FROM schema_migrations WHERE version = 2"
# An arbitrary constant: only the ingest copy holding it refreshes activity_hourly.
ROLLUP_LOCK_KEY = 0x696E676573745F72  # "ingest_r"
TRY_ROLLUP_LOCK = "SELECT pg_try_advisory_xact_lock(%s)"
REFRESH_ROLLUP = "SELECT refresh_activity_hourly(%s, %s)"

# A lane's session starts: was its previous process still marked running (it died without a clean stop)?
PREVIOUS_RUN = "SELECT running FROM ingest_runs WHERE client_id = %(client_id)s FOR UPDATE"
BEGIN_RUN = """
INSERT INTO ingest_runs (client_id, running, started_at) VALUES (%(client_id)s, true, %(now)s)
ON CONFLICT (client_id) DO UPDATE SET running = true, started_at = excluded.started_at, stopped_at = NULL
"""
END_RUN = "UPDATE ingest_runs SET running = false, stopped_at = %(now)s WHERE client_id = %(client_id)s"

# A redelivered message about to be processed (ingest/quarantine.py): count the attempt, committed.
RECORD_ATTEMPT = """
INSERT INTO ingest_attempts AS a (digest, attempts, first_at, last_at) VALUES (%(digest)s, 1, %(now)s, %(now)s)
ON CONFLICT (digest) DO UPDATE SET attempts = a.attempts + 1, last_at = excluded.last_at
RETURNING attempts
"""
FORGET_ATTEMPT = "DELETE FROM ingest_attempts WHERE digest = %s"
