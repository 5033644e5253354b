"""The settings of one Intercom workspace as a source (a ``[[sources]]`` entry with ``type = "intercom"``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: Articles requested per ``GET /articles`` page. The 2.14 description documents no maximum for
#: this endpoint (the official SDK's default is 15); 50 keeps pages small and requests few.
INTERCOM_ARTICLES_PER_PAGE = 50
#: ``POST /conversations/search``: "The default is 20 results per page and maximum is 150" (2.14).
INTERCOM_SEARCH_MAX_PER_PAGE = 150


class IntercomSettings(BaseModel):
    """One Intercom workspace as a source (a ``[[sources]]`` entry with ``type = "intercom"``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["intercom"] = Field(default="intercom", description="Connector type.")
    name: str = Field(default="intercom", min_length=1, description="Source name: Document.source and id prefix.")
    base_url: str = Field(default="https://api.intercom.io", description="API base URL (regional: api.eu.intercom.io, api.au.intercom.io).")
    token_env: str = Field(default="INTERCOM_ACCESS_TOKEN", description="Name of the environment variable holding the access token.")
    include_articles: bool = Field(default=True, description="Index published Help Center articles (PUBLIC).")
    include_conversations: bool = Field(default=True, description="Index conversations (INTERNAL).")
    include_internal_notes: bool = Field(default=False, description="Add teammate notes to conversation text as '## Internal note'.")
    only_closed: bool = Field(default=True, description="Index only closed conversations.")
    workspace_url: str | None = Field(
        default=None,
        description="Inbox URL for agent links, e.g. https://app.intercom.com/a/inbox/<app_id>; "
        "a conversation's url is <workspace_url>/inbox/conversation/<id>. None: no url.",
    )
    articles_per_page: int = Field(default=INTERCOM_ARTICLES_PER_PAGE, ge=1, le=250, description="Articles per list page.")
    conversations_per_page: int = Field(
        default=INTERCOM_SEARCH_MAX_PER_PAGE, ge=1, le=INTERCOM_SEARCH_MAX_PER_PAGE, description="Conversations per search page."
    )
