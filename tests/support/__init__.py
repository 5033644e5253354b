"""Helpers shared by the test packages (harnesses, payload builders, signing, servers in threads).

Fixtures stay in the ``conftest.py`` of the package that uses them; what two packages share lives
here, so no conftest imports another's:

    servers.py    free_port, wait_until_healthy, Served (``serve()`` in a thread)
    executor.py   DrainableExecutor: Bolt's listener pool, waited on instead of slept after
    slack.py      the Slack harness: signed requests over real HTTP, payloads, the recorded answers
    web.py        the admin/ops harness: sources file, settings, WebApp
    helpdesk.py   the helpdesk harness: vendor signatures, webhook bodies, the fakes with a ticket
"""
