"""The kernel's connection pool: connections carry the statement timeout from the settings."""

from __future__ import annotations

from collections.abc import Callable

from eldercare.config import Settings
from eldercare.db.pool import open_pool


async def test_pool_connections_have_the_statement_timeout(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(db={"statement_timeout_s": 2.5, "pool_min_size": 0, "pool_max_size": 2})
    async with open_pool(settings, name="test") as pool, pool.connection() as conn:
        cursor = await conn.execute("SHOW statement_timeout")
        row = await cursor.fetchone()
        assert row == ("2500ms",)
        cursor = await conn.execute("SELECT current_setting('application_name')")
        assert await cursor.fetchone() == ("eldercare-test",)
