"""A private Mosquitto on a free port, for tests that need auth, ACLs, restarts or a big queue."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.processes import end_process
from tests.support.services import free_port

DYNSEC_PLUGIN = Path("/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so")


def dynsec_config(config: Path, admin: str, admin_password: str) -> str:
    """Write a dynamic-security file holding one admin client; return the ``extra`` config lines of a
    PrivateBroker that loads it and lets in nobody else."""
    subprocess.run(["mosquitto_ctrl", "dynsec", "init", str(config), admin, admin_password], check=True, capture_output=True)
    # users=None writes "allow_anonymous true"; this line comes later and wins.
    return f"allow_anonymous false\nplugin {DYNSEC_PLUGIN}\nplugin_opt_config_file {config}"


@dataclass
class PrivateBroker:
    """Mosquitto 2 run from PATH with a config written for the test.

    ``users`` maps username -> password (written with mosquitto_passwd); ``acl`` is the ACL file's
    text; ``extra`` is appended to the config; ``config`` replaces the whole generated config (it must
    listen on ``port``). The port stays the same across ``restart``.
    """

    directory: Path
    users: dict[str, str] | None = None
    acl: str | None = None
    extra: str = ""
    persistence: bool = True
    config: str | None = None
    port: int = field(default_factory=free_port)
    _process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def url_as(self, username: str, password: str) -> str:
        return f"mqtt://{username}:{password}@127.0.0.1:{self.port}"

    def _write_config(self) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "mosquitto.conf"
        if self.config is not None:
            config.write_text(self.config)
            return config
        lines = [
            f"listener {self.port} 127.0.0.1",
            f"allow_anonymous {'false' if self.users is not None else 'true'}",
            "max_queued_messages 1000000",
            "max_inflight_messages 1000",
            f"persistence {'true' if self.persistence else 'false'}",
            f"persistence_location {self.directory}/",
            "autosave_interval 1",
            f"log_dest file {self.directory}/mosquitto.log",
            "log_type error",
            "log_type warning",
            "log_type notice",
        ]
        if os.geteuid() == 0:
            # Mosquitto run as root drops to user "mosquitto", who cannot read pytest's private tmp dir.
            lines.append("user root")
        if self.users is not None:
            password_file = self.directory / "passwd"
            password_file.write_text("")
            for user, password in self.users.items():
                subprocess.run(["mosquitto_passwd", "-b", str(password_file), user, password], check=True, capture_output=True)
            lines.append(f"password_file {password_file}")
        if self.acl is not None:
            acl_file = self.directory / "acl"
            acl_file.write_text(self.acl)
            lines.append(f"acl_file {acl_file}")
        config.write_text("\n".join(lines) + "\n" + self.extra + "\n")
        return config

    def start(self) -> None:
        if shutil.which("mosquitto") is None:
            raise RuntimeError("mosquitto is not on PATH: apt-get install mosquitto")
        config = self._write_config()
        self._process = subprocess.Popen(["mosquitto", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                err = self._process.stderr.read().decode() if self._process.stderr else ""
                self.stop()
                raise RuntimeError(f"mosquitto exited at start: {err}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not listen on {self.port} within 10 s")

    def stop(self, *, kill: bool = False) -> None:
        if self._process is None:
            return
        end_process(self._process, kill=kill)
        if self._process.stderr is not None:
            self._process.stderr.close()
        self._process = None

    def restart(self, *, down_for_s: float = 0.0) -> None:
        self.stop()
        time.sleep(down_for_s)
        self.start()

    def reload(self) -> None:
        """Rewrite the config, password and ACL files from the fields and SIGHUP Mosquitto to re-read them.

        Connections stay up; Mosquitto applies a reloaded ACL to clients already connected.
        """
        if self._process is None:
            raise RuntimeError("the broker is not running")
        self._write_config()
        self._process.send_signal(signal.SIGHUP)

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("the broker is not running")
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None
