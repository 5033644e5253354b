"""The operations surface ``helpdesk-bot serve`` hosts: readiness, Prometheus metrics, the admin page.

    ops.py       ``/readyz`` (dependency checks, each bounded in time) and ``/metrics``
    metrics.py   Metrics (one registry per app), the state collector (sync runs, lag, errors per
                 source), and the metered answer service, feedback and draft logs it counts through
    admin.py     the admin page (token login, signed session cookie, CSRF-checked forms)
    templates.py its Jinja2 templates (kept in Python so a wheel install carries them)
    selfcheck.py ``python -m bot.web.selfcheck``: the image's build-time model check and health probe

The queries the admin page and the metrics read sit beside their tables in :mod:`bot.state`; the
knowledge gaps and the health report it shows are computed in :mod:`bot.health`.
"""
