"""Ingest benchmark: ``python -m bench.ingest --help`` (see ``bench/ingest/run.py``)."""
