"""The alert engine (``eldercare alerts``): rules, alert lifecycle, escalation, notifications.

Inputs (written by ingest): ``alert_inbox`` rows (fall, sos, door, bed, presence, gateway_status)
plus ``NOTIFY eldercare_inbox``; ``home_state``, ``devices``, ``readings`` and ``events`` for the
periodic rules. Inputs written by staff through the API: ``alerts.status`` (acknowledged /
resolved), which stops escalation; ``residents.rule_settings`` (keys: see
:mod:`eldercare.domain.rule_settings`), ``residents.emergency_contacts`` (``email`` and/or ``apprise_url``),
``absences``, ``notification_channels`` and ``care_centres.quiet_start/quiet_end``.

Alert kinds, their default severities, which of them the system resolves by itself, statuses and
outcomes are declared once, in :mod:`eldercare.domain.alerts.catalogue`; every alert change and
its ``alert_history`` row (actor NULL = the system) goes through the one writer,
:mod:`eldercare.domain.alerts.lifecycle`, which the API uses too. Critical alerts are never delayed
by quiet hours; the others are (delayed, never dropped). Kinds that auto-resolve are resolved by the
system (outcome ``auto_resolved``) once their condition has been clear for ``clear_hold_s``; the
others wait for staff. See ``alerts/README.md`` for the module map and how to add a kind.

Notifications: ``notification_outbox`` rows enqueued in the transaction that changed the alert;
purposes opened (tier-0 channels), reminder, escalation (level 1: tier-1 channels; level 2: the
resident's emergency contacts), resolved (tier-0, system resolutions only). A channel hears about
an alert only if ``min_severity`` allows. Channel kinds: ``webhook`` (target URL, secret required;
see :mod:`alerts.notify.channels` for the signature), ``email`` (target address; SMTP from
``ELDERCARE_ALERTS__SMTP_*``), ``apprise`` (any apprise URL: WeCom, DingTalk, Feishu, SMS...).
Adding a channel = inserting a notification_channels row; no restart needed.
"""
