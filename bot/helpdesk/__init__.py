"""Helpdesk auto-drafting: a cited draft reply as a private note on every new ticket.

Flow::

    Zendesk / Intercom / Freshdesk webhook
      └─ webhooks.py   verify (HMAC signature + age, or shared secret), parse only ids, answer 202
           └─ DraftService.submit() ── thread pool, after the response ──┐
    helpdesk-bot draft --provider P --ticket ID  (by hand, or --dry-run) ─┤
                                                                          ▼
      service.py   claim the event once (state store) → fetch the ticket through the API (desks.py,
                   VendorHttp) → claim the customer message once → answer the customer's own words
                   from PUBLIC knowledge (Audience.CUSTOMER) → style adapter + guard → related solved
                   tickets for the agent (internal) → render.py → post a private note → record it

Modules: ``errors`` (the error tree), ``models`` (events, tickets, drafts), ``signatures``
(webhook verification), ``desks`` (one client per helpdesk: fetch a ticket, post a note),
``render`` (the note), ``service`` (:class:`~bot.helpdesk.service.DraftService`), ``webhooks``
(the Starlette routes), ``simulate`` (draft quality over past conversations).
"""
