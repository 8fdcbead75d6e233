"""``eldercare demo``: the whole system on one machine, for a first look.

It composes the other components as subprocesses (database, broker, ingest, alerts, API and the
simulator's homes) and registers the simulated homes with the simulator's registry: like the
simulator driving edge agents, the demo may import the simulator, and nothing imports the demo.

- :mod:`demo.cli`: the ``eldercare demo`` command.
- :mod:`demo.system`: what runs, in which order, and how it stops.
- :mod:`demo.infra`: the configured PostgreSQL and broker, or private ones in a temporary directory.
"""
