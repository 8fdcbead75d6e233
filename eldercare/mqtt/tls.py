"""TLS towards the broker, and the rule that a password never crosses a network in clear.

Every MQTT client we build (aiomqtt for services and gateways, paho for ingest's manual
acknowledgements) takes its TLS context and its transport check from here.
"""

from __future__ import annotations

import ssl

from eldercare.config import MqttEndpoint, MqttSettings, cleartext_password_problem
from eldercare.errors import CertificateError, PermanentError


def tls_context(mqtt: MqttSettings) -> ssl.SSLContext:
    """Verify the broker's certificate and host name against ``mqtt.ca_file`` (else the system's CAs)."""
    context = ssl.create_default_context(cafile=str(mqtt.ca_file) if mqtt.ca_file else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def check_transport(endpoint: MqttEndpoint, mqtt: MqttSettings) -> None:
    """PermanentError, before any byte is sent, when the password would travel in clear."""
    problem = cleartext_password_problem(endpoint, allowed=mqtt.allow_cleartext_password)
    if problem:
        raise PermanentError(problem)


def certificate_error(exc: BaseException) -> CertificateError | None:
    """The certificate verification failure behind a library error, said plainly, or None.

    aiomqtt wraps the ``ssl.SSLCertVerificationError`` in an MqttError that keeps it as context.
    """
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = cause.verify_message or cause.reason or str(cause)
            return CertificateError(f"the broker's TLS certificate was refused: {reason}; nothing was sent")
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return None
