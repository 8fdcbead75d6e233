"""The database boundary: connection pools, migrations, and translation of psycopg errors."""
