"""Intercom: the source connector (Help Center articles, closed conversations) and the API client it
shares with the drafting desk (:mod:`bot.helpdesk.desks`).

* :mod:`~connectors.intercom.settings`: :class:`IntercomSettings`, a ``[[sources]]`` entry;
* :mod:`~connectors.intercom.client`: :class:`IntercomClient`, sign-in, API version, rate limits;
* :mod:`~connectors.intercom.connector`: :class:`IntercomConnector`, records into documents.
"""

from connectors.intercom.client import IntercomClient
from connectors.intercom.connector import IntercomConnector
from connectors.intercom.settings import IntercomSettings

__all__ = ["IntercomClient", "IntercomConnector", "IntercomSettings"]
