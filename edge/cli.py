"""``eldercare edge``: run the home-gateway agent with the driver named by ELDERCARE_EDGE__DRIVER.

Exit codes: 0 after a clean stop (SIGTERM/SIGINT), 1 when the broker refuses the home's credentials
or the disk queue cannot be opened, 2 when the configuration is unusable.
"""

from __future__ import annotations

import click

from eldercare.cli_support import run_service


@click.command("edge")
def command() -> None:
    """Run the home-gateway agent: sensor driver, fall detection, disk queue, MQTT uplink."""
    from edge import service

    run_service(service.run)
