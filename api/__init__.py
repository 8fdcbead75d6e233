"""eldercare API and care-staff dashboard (``eldercare api``).

Run: ``ELDERCARE_API__JWT_SECRET=<32+ random chars> eldercare api`` (refuses to start without one,
exit 2). The dashboard is at ``/``, the OpenAPI schema at ``/openapi.json`` (interactive: ``/docs``),
readiness at ``/healthz``. With ``ELDERCARE_API__BROKER_ADMIN_USERNAME``/``_PASSWORD`` set (the
broker's dynamic-security admin), registering a home or rotating its credentials takes effect at
the broker at once; without them the API still stores the hash and answers ``broker_synced: false``.

Users: ``eldercare users add --role admin|staff|family --username NAME [--centre ID]
[--resident ID ...] [--password-stdin]`` (the first admin too), or ``POST /api/v1/users`` as admin.

Endpoints (all under ``/api/v1``, bearer token from ``POST /auth/token``, form-encoded):
auth (token, refresh, logout, me), users, centres (+ channels, telecare), homes (+ credentials),
residents (+ absences, activity, readings, summary), devices, alerts (+ acknowledge, resolve,
comments, assign, stream), board.

Other components must not import this package; what they share with it lives in the kernel:
``eldercare.domain.homes`` (register a home, rotate its credentials) and ``eldercare.mqtt.dynsec``.
"""
