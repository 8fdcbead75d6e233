"""eldercare ingest component."""
