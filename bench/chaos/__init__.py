"""Chaos run: nothing a gateway sent may be lost, whatever the broker, the database or a crash does.

    .venv/bin/python -m bench.chaos [--homes 200] [--duration 600] [--faults 60] [--sos 40] [--falls 10]

Real edge agents for ``--homes`` simulated homes (``eldercare simulate run`` in ``--groups``
processes, scripted SOS presses and falls, one per home), two ``eldercare ingest`` and two
``eldercare alerts`` copies, ``eldercare api`` (polled as a dashboard would), and a signed-webhook
receiver, on a private Mosquitto (persistence on, a free port) and a fresh database on the local
PostgreSQL reached through a TCP proxy (``bench/chaos/cluster.py``).

For ``--duration`` seconds it injects faults at random (``bench/chaos/faults.py``, logged to
``faults.log`` in the work directory): ``kill -9`` of an ingest or alerts copy, broker restart with
persistence, broker ``kill -9``, broker restart without persistence, a database outage (proxy cut,
seconds to a minute and a half), ``kill -9`` of one process of edge agents after its gateways were cut
off long enough to fill their queues, and gateways cut off from the broker for minutes. A watchdog
restarts any process that exits on its own and counts it.

Then it drains (faults over, every gateway queue empties, escalations finish, offline alerts resolve),
stops the homes, and checks against the ground truth (``bench/chaos/check.py``): every reading and
event a gateway accepted is stored exactly once (per device, the numbers are contiguous); every SOS
and fall is one event, one alert, and one signed notification per escalation step at the receiver;
no alert for a home without an incident except offline alerts its own gateway's fault explains, and
those resolve. It prints one table (``bench/chaos/report.py``) and asserts nothing: the test suite
runs a short version and asserts there.
"""
