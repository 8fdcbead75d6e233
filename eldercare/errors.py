"""One exception hierarchy for the whole project.

Callers branch on a handful of kinds only; library exceptions are translated into these once,
in the boundary module that talks to the library (``eldercare.mqtt``, ``eldercare.db``).
"""

from __future__ import annotations


class EldercareError(Exception):
    """Root of every error eldercare raises on purpose."""


class ConfigError(EldercareError):
    """The configuration is unusable. ``problems`` lists every problem found, not just the first."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


class ContractError(EldercareError):
    """A message does not follow the MQTT contract (raised by encoders; decoders return rejections)."""


class TransientError(EldercareError):
    """Worth retrying later: a network blip, a database restart, a broker going away."""


class CertificateError(TransientError):
    """A server's TLS certificate failed verification (expired, unknown CA, wrong host name).

    Transient for the caller: an unattended gateway keeps trying, so a certificate renewed on the server
    lets it in without anyone visiting the home. But nothing was sent, and an operator must be told.
    """


class PermanentError(EldercareError):
    """Retrying will not help: bad credentials, a refused migration, a rejected request."""


class NotFoundError(EldercareError):
    """The thing does not exist, or is outside the caller's scope (the two are not distinguished)."""


class MigrationError(PermanentError):
    """The schema cannot be brought up to date safely (for example an applied migration was edited)."""
