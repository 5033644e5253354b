"""Freshdesk: the source connector (solution articles, resolved tickets) and the API client it
shares with the drafting desk (:mod:`bot.helpdesk.desks`).

* :mod:`~connectors.freshdesk.settings`: :class:`FreshdeskSettings`, a ``[[sources]]`` entry;
* :mod:`~connectors.freshdesk.client`: :class:`FreshdeskClient`, sign-in, HTTP and paging;
* :mod:`~connectors.freshdesk.connector`: :class:`FreshdeskConnector`, records into documents.
"""

from connectors.freshdesk.client import FreshdeskClient
from connectors.freshdesk.connector import FreshdeskConnector
from connectors.freshdesk.settings import FreshdeskSettings

__all__ = ["FreshdeskClient", "FreshdeskConnector", "FreshdeskSettings"]
