"""Delivery over each kind of channel: signed webhook, e-mail over SMTP, any apprise URL.

Library errors are translated here, once, into a :class:`SendResult`: transient (retry with
backoff) or permanent (retrying cannot help: a 4xx answer, a refused recipient, a bad URL).

Webhook: ``POST`` of the JSON body (UTF-8, sorted keys) with ``X-Eldercare-Signature:
sha256=<hex HMAC-SHA256 of the exact body bytes with the channel's secret>``,
``X-Eldercare-Timestamp`` (UNIX seconds, also inside the signed body as ``sent_at``) and
``X-Eldercare-Delivery`` (the outbox id: delivery is at least once, receivers dedupe on it).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import smtplib
import time
import warnings
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import apprise
import httpx

from alerts.notify.messages import plain_text
from eldercare.config import AlertsSettings

SIGNATURE_HEADER = "X-Eldercare-Signature"
TIMESTAMP_HEADER = "X-Eldercare-Timestamp"
DELIVERY_HEADER = "X-Eldercare-Delivery"
_RETRYABLE_STATUS = frozenset({408, 425, 429})


@dataclass(frozen=True)
class Delivery:
    outbox_id: int
    kind: str  # webhook, email, apprise
    target: str
    secret: str | None
    payload: dict[str, Any]


@dataclass(frozen=True)
class SendResult:
    ok: bool
    status_code: int | None = None
    error: str | None = None
    permanent: bool = False
    duration_ms: int = 0


def sign(secret: str, body: bytes) -> str:
    """The signature header value a receiver recomputes to verify a webhook."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


class Senders:
    """One per engine: an HTTP client with deadlines, SMTP and apprise run in threads."""

    def __init__(self, settings: AlertsSettings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.http = http
        _load_apprise_plugins()

    async def send(self, delivery: Delivery, sent_at: float) -> SendResult:
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.settings.notify_timeout_s):
                result = await self._dispatch(delivery, sent_at)
        except TimeoutError:
            result = SendResult(False, error="timed out")
        except Exception as exc:  # noqa: BLE001 - one delivery's surprise (bad URL...) is recorded, then retried
            result = SendResult(False, error=type(exc).__name__)
        return SendResult(result.ok, result.status_code, result.error, result.permanent, int((time.monotonic() - started) * 1000))

    async def _dispatch(self, delivery: Delivery, sent_at: float) -> SendResult:
        if delivery.kind == "webhook":
            return await self._webhook(delivery, sent_at)
        if delivery.kind == "email":
            return await asyncio.to_thread(self._email, delivery)
        if delivery.kind == "apprise":
            return await asyncio.to_thread(_apprise, delivery)
        return SendResult(False, error=f"unknown channel kind {delivery.kind!r}", permanent=True)

    async def _webhook(self, delivery: Delivery, sent_at: float) -> SendResult:
        if not delivery.secret:
            return SendResult(False, error="webhook channel has no secret", permanent=True)
        body = webhook_body({**delivery.payload, "sent_at": int(sent_at), "delivery_id": delivery.outbox_id})
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: sign(delivery.secret, body),
            TIMESTAMP_HEADER: str(int(sent_at)),
            DELIVERY_HEADER: str(delivery.outbox_id),
        }
        try:
            response = await self.http.post(delivery.target, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return SendResult(False, error=f"{type(exc).__name__}")
        code = response.status_code
        if 200 <= code < 300:
            return SendResult(True, status_code=code)
        permanent = 400 <= code < 500 and code not in _RETRYABLE_STATUS
        return SendResult(False, status_code=code, error=f"HTTP {code}", permanent=permanent)

    def _email(self, delivery: Delivery) -> SendResult:
        cfg = self.settings
        subject, text = plain_text(delivery.payload)
        message = EmailMessage()
        message["From"] = cfg.smtp_from
        message["To"] = delivery.target
        message["Subject"] = subject
        message["X-Eldercare-Delivery"] = str(delivery.outbox_id)
        message.set_content(text)
        try:
            with smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=cfg.notify_timeout_s) as smtp:
                if cfg.smtp_starttls:
                    smtp.starttls()
                if cfg.smtp_username and cfg.smtp_password:
                    smtp.login(cfg.smtp_username, cfg.smtp_password.get_secret_value())
                smtp.send_message(message)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPAuthenticationError) as exc:
            return SendResult(False, error=type(exc).__name__, permanent=True)
        except (smtplib.SMTPException, OSError) as exc:
            return SendResult(False, error=type(exc).__name__)
        return SendResult(True)


_apprise_ready = False


def _load_apprise_plugins() -> None:
    """Load apprise's plugins once, in the event loop's thread, before any delivery.

    apprise loads every plugin on first use, and one of them imports the stdlib ``imghdr``, which
    emits a DeprecationWarning on Python 3.11/3.12: silenced here, for that one import only."""
    global _apprise_ready
    if _apprise_ready:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        apprise.Apprise().add("json://127.0.0.1")
    _apprise_ready = True


def _apprise(delivery: Delivery) -> SendResult:
    notifier = apprise.Apprise()
    if not notifier.add(delivery.target):
        return SendResult(False, error="not a valid apprise URL", permanent=True)
    subject, text = plain_text(delivery.payload)
    ok = bool(notifier.notify(body=text, title=subject))
    return SendResult(ok, error=None if ok else "apprise reported a failure")
