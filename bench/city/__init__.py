"""The platform at city scale: how much of a 2-core machine 10,000 to 100,000 homes take.

``python -m bench.city --homes 10000,30000,100000 --window-s 300 [--alerts 1,2]`` runs, for each
scale, everything on this machine as real processes: a private Mosquitto without ACLs or persistence
(never the shared one), a fresh database (plain PostgreSQL; ``--flavour timescaledb`` for the server on
5433), ``eldercare ingest``, ``eldercare alerts`` (one or two copies), ``eldercare api``, and the
load: ``eldercare simulate load`` processes (simulator/load.py), a few MQTT connections each, whose
homes play the simulator's routines and reporting rhythms, one home after another pressing SOS every
``--sos-every-s``. After ``--warmup-s`` it reads everything once, waits ``--window-s``, reads again,
and prints per scale:

- messages, readings and events per second, from ingest's counters (rows it committed as new);
- CPU cores of ingest, the alert engine(s), the API, the broker, PostgreSQL (the run database's
  backends; the server's shared background processes apart) and the load generator itself
  (bench/city/measure.py says how);
- every welfare deadline's lateness (when it was judged against when it came due) from the alert
  engine's ``eldercare_alerts_deadline_lateness_seconds`` histogram, and its other
  ``eldercare_alerts_deadline*`` metrics (deadlines overdue and never judged), or n/a when the
  engine does not expose them;
- SOS -> webhook: from the press's publish to the care centre's webhook receiving it;
- database growth per home per day, and the platform's CPU-seconds per home per day;
- the load generator's worst scheduling lag (it must keep up, or it and not the platform is measured).

Before the window it waits (bounded) for ingest to catch up with the homes' start (a retained
``online`` per home, every device registering) and for every alert copy's first pass over the homes
(a fresh engine first learns every resident's routine). ``--scenario`` gives the homes incidents (a
simulate scenario file: gateways going offline make deadlines come due within the window);
``--platform DIR`` runs ingest, alerts and the API from another checkout (its ``.venv``; its
migrations are applied on top), e.g. a branch under test.

It asserts nothing. The load average at both ends is printed with the figures: the machine may be
shared.
"""
