"""schemathesis against the live OpenAPI schema: no request, however odd, makes the server answer 5xx.

Bounded (a fixed seed, a few examples per operation) so it runs in well under a minute.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.api.conftest import PASSWORD, RunningApi, World

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


def test_no_server_errors(api_server: RunningApi, world: World, tmp_path: Path) -> None:
    token = httpx.post(f"{api_server.url}/api/v1/auth/token", data={"username": "admin", "password": PASSWORD}, timeout=10).json()
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{api_server.url}/openapi.json",
        "--checks", "not_a_server_error",
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", str(MAX_EXAMPLES),
        "--seed", "20260501",
        "--workers", "1",
        "--no-shrink",
        "--generation-database", "none",
        "--exclude-path", "/api/v1/alerts/stream",  # endless by design; covered by its own tests
        "--header", f"Authorization: Bearer {token['access_token']}",
        "--request-timeout", "20",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=150, check=False, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:] + api_server.process.log_text()[-3000:]
