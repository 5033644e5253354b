"""Zendesk: the source connector (Help Center articles, resolved tickets) and the API client it
shares with the drafting desk (:mod:`bot.helpdesk.desks`).

* :mod:`~connectors.zendesk.settings`: :class:`ZendeskSettings`, a ``[[sources]]`` entry;
* :mod:`~connectors.zendesk.client`: :class:`ZendeskClient`, sign-in, HTTP and pagination;
* :mod:`~connectors.zendesk.connector`: :class:`ZendeskConnector`, records into documents.
"""

from connectors.zendesk.client import ZendeskClient
from connectors.zendesk.connector import ZendeskConnector
from connectors.zendesk.settings import ZendeskSettings

__all__ = ["ZendeskClient", "ZendeskConnector", "ZendeskSettings"]
