"""Operations surface of ``helpdesk-bot serve``: health, readiness, Prometheus metrics, the admin page.

    context.py   answer_ref(): lets a surface name the answer id its feedback will be recorded under
    metrics.py   Metrics (one registry per app), the answer/state wrappers that feed it, the
                 state-store collector (sync runs, lag, errors per source), ServedRuntime
    queries.py   read-only queries of the state store for the admin page and the metrics
    gaps.py      knowledge gaps: abstained / "not helpful" questions grouped by embedding similarity
    admin.py     the admin page (token login, signed session cookie, CSRF-checked forms)
    templates.py its Jinja2 templates (kept in Python so a wheel install carries them)
    app.py       the routes ``serve`` mounts per role (readyz, metrics, admin, helpdesk webhooks)
    selfcheck.py ``python -m bot.web.selfcheck``: the image's build-time model check and health probe
"""
