"""schemathesis against the live OpenAPI schema, for every role and for anonymous callers, with every
check: no 5xx, every status and body as documented, invalid input refused, valid input accepted.

Bounded (a fixed seed, MAX_EXAMPLES per operation and phase, the coverage phase once) so the four
runs stay within a few minutes on a loaded machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.api.conftest import RunningApi, World

ROOT = Path(__file__).resolve().parents[2]

MAX_EXAMPLES = 5


def test_openapi_schema_is_complete(api_server: RunningApi, world: World) -> None:
    schema = httpx.get(f"{api_server.url}/openapi.json", timeout=10).json()
    operations = [op for path in schema["paths"].values() for op in path.values()]
    assert len(operations) >= 30
    assert (
        schema["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"]["password"]["tokenUrl"] == "/api/v1/auth/token"
    )
    with_examples = [name for name, model in schema["components"]["schemas"].items() if model.get("examples")]
    assert {"Alert", "ResolveIn", "HomeIn", "ResidentPatch", "Timeline", "Summary", "Telecare"} <= set(with_examples)


# Rules no schema states, so the fuzzer cannot know them (each is a 422 naming the field): an alert is
# assigned only to staff of its own centre; a time zone must be one the server knows (as an enum, the
# ~600 names made the fuzzer register a home in each); a time range has a longest span and an end after
# its start (absences too); a webhook channel needs a secret; rule settings keep floor <= ceiling and
# the battery band in order; a family member's residents are listed once each; a protocol step names
# a contact the resident has (call_contact only); a critical alert is resolved with a note.
BEYOND_THE_SCHEMA = [
    "POST /api/v1/alerts/{alert_id}/assign",
    "POST /api/v1/alerts/{alert_id}/attempts",
    "POST /api/v1/alerts/{alert_id}/resolve",
    "POST /api/v1/homes",
    "POST /api/v1/centres",
    "POST /api/v1/centres/{centre_id}/channels",
    "GET /api/v1/centres/{centre_id}/telecare",
    "GET /api/v1/dead-letters/summary",
    "GET /api/v1/handover",
    "GET /api/v1/handover/export.csv",
    "GET /api/v1/oversight",
    "GET /api/v1/oversight/export.csv",
    "GET /api/v1/residents/{resident_id}/activity",
    "GET /api/v1/residents/{resident_id}/readings",
    "POST /api/v1/residents",
    "PATCH /api/v1/residents/{resident_id}",
    "POST /api/v1/residents/{resident_id}/absences",
    "POST /api/v1/users",
]
CONFIG = "".join(
    f"""
[[operations]]
include-name = "{name}"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422", "429"]
"""
    for name in BEYOND_THE_SCHEMA
)


def _schemathesis(url: str, user: str | None, phases: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    (cwd / "schemathesis.toml").write_text(CONFIG)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EC_SCHEMATHESIS_URL": url}
    if user is not None:
        env |= {"SCHEMATHESIS_HOOKS": "tests.api.schemathesis_hooks", "EC_SCHEMATHESIS_USER": user}
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file", str(cwd / "schemathesis.toml"),
        "run",
        f"{url}/openapi.json",
        "--checks", "all",
        "--phases", phases,
        "--max-examples", str(MAX_EXAMPLES),
        "--seed", "20260501",
        "--workers", "1",
        "--no-shrink",
        "--generation-database", "none",
        "--exclude-path", "/api/v1/alerts/stream",  # endless by design; covered by its own tests
        "--request-timeout", "20",
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=400, check=False, cwd=cwd, env=env)


# The coverage phase (every boundary and every wrong type of every field, about 2,300 requests and
# 3.5 minutes at a load average of 27 on 2 cores) runs as the admin, who reaches every operation;
# the other roles meet the examples and the fuzzer (about 200 requests, a minute each there).
PHASES = {
    "admin": "examples,coverage,fuzzing",
    "staff_a": "examples,fuzzing",
    "family_x": "examples,fuzzing",
    "district_1": "examples,fuzzing",
    "anonymous": "examples,fuzzing",
}


# The schema holds or not whatever the database flavour: once per ./dev test (the API's queries on
# each flavour are the other API tests' business).
# The admin's run (the coverage phase, the longest test of the suite) goes to the shorter TimescaleDB
# pass.
@pytest.mark.any_flavour
@pytest.mark.timeout(450)
@pytest.mark.parametrize(
    "role", [pytest.param(role, marks=pytest.mark.any_flavour(on="timescaledb")) if role == "admin" else role for role in PHASES]
)
def test_schema_holds_for_every_role(api_server: RunningApi, world: World, db_url: str, tmp_path: Path, role: str) -> None:
    if role == "district_1":  # a district office over both centres (figures only, read-only)
        with psycopg.connect(db_url) as conn:
            conn.execute(
                "INSERT INTO users (username, password_hash, role) SELECT 'district_1', password_hash, 'district'"
                " FROM users WHERE username = 'admin'"
            )
            conn.execute(
                "INSERT INTO district_centres (user_id, care_centre_id)"
                " SELECT u.id, c.id FROM users u, care_centres c WHERE u.username = 'district_1'"
            )
    started = time.monotonic()
    result = _schemathesis(api_server.url, None if role == "anonymous" else role, PHASES[role], tmp_path)
    (tmp_path / "schemathesis.out").write_text(result.stdout + result.stderr)
    summary = result.stdout[result.stdout.rfind("Test cases:") :].strip()
    print(f"schemathesis as {role}: {time.monotonic() - started:.0f} s; {summary}")
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-3000:] + api_server.process.log_text()[-2000:]
