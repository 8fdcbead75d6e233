"""schemathesis hooks (``SCHEMATHESIS_HOOKS``): log in as ``EC_SCHEMATHESIS_USER`` and stay logged in.

The fuzzer itself ends sessions (revoke-sessions, a disabled account) and sends requests without a
token on purpose (the ignored_auth check), so after any 401 schemathesis asks for a token again: by
refresh token when it still works (cheap), by password only when it does not (a password hash costs
about a second on a loaded machine).
"""

from __future__ import annotations

import os
from typing import Any

import httpx
import schemathesis

from tests.api.conftest import PASSWORD


@schemathesis.auth()
class Login:
    refresh_token: str | None = None

    def get(self, case: Any, context: Any) -> str:
        url = os.environ["EC_SCHEMATHESIS_URL"]
        response = None
        if self.refresh_token is not None:
            response = httpx.post(f"{url}/api/v1/auth/refresh", json={"refresh_token": self.refresh_token}, timeout=20)
        if response is None or response.status_code != 200:
            form = {"username": os.environ["EC_SCHEMATHESIS_USER"], "password": PASSWORD}
            response = httpx.post(f"{url}/api/v1/auth/token", data=form, timeout=20)
            response.raise_for_status()
        tokens = response.json()
        self.refresh_token = tokens["refresh_token"]
        return str(tokens["access_token"])

    def set(self, case: Any, data: str, context: Any) -> None:
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"
