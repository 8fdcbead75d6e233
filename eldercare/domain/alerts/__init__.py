"""The alert domain, in one place for every component and the dashboard.

- :mod:`eldercare.domain.alerts.catalogue`: kinds, severities and their order, statuses, outcome
  codes, history actions and their names in Chinese and English (pure; no I/O).
- :mod:`eldercare.domain.alerts.lifecycle`: the one writer of ``alerts`` and ``alert_history``:
  open, update, acknowledge, comment, assign, escalate, resolve and auto-resolve, each with its
  history row. The alert engine (``alerts/``) and the API (``api/``) both call it, as every alarm
  transition in ThingsBoard goes through its ``AlarmService``, whoever asks.

Adding an alert kind is one entry in :data:`catalogue.KINDS` (see ``alerts/README.md``).
"""
