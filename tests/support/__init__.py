"""Test harness: real PostgreSQL, real Mosquitto, TCP fault injection, subprocess helpers."""
