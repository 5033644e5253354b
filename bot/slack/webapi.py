"""The Slack Web API client: built once with 429 retries, and its failures told apart from ours."""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from bot.errors import ConfigError
from bot.settings import Settings
from bot.slack.logfilter import slack_logger

#: Retries of a Web API call answered 429 (each waits the Retry-After the API sent). Enough to ride out
#: a burst (chat.postMessage allows about one message per second per channel): an answer waits rather
#: than being dropped; one still refused after these is logged (``slack_post_failed``) and not posted.
RATE_LIMIT_RETRIES = 8
#: Seconds before a Web API call is abandoned.
WEB_API_TIMEOUT_S = 15

#: What a Web API call can raise: an API error (``ok: false``, 429 after the retries), a client-side
#: error, or the network (slack_sdk lets urllib's ``URLError``, an ``OSError``, through).
SLACK_ERRORS: tuple[type[Exception], ...] = (SlackApiError, SlackClientError, OSError)


def build_client(settings: Settings, *, base_url: str | None = None) -> WebClient:
    """A Web API client with the bot token, retrying 429s after Retry-After (slack_sdk's handler).

    Every Web API call goes to ``base_url``, else ``SLACK_API_URL`` (Slack's own by default).
    """
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    if not token:
        raise ConfigError("SLACK_BOT_TOKEN is not set: copy the bot token (xoxb-...) from the Slack app's settings")
    return WebClient(
        token=token,
        base_url=base_url or settings.slack_api_url,
        timeout=WEB_API_TIMEOUT_S,
        logger=slack_logger(),
        retry_handlers=[ConnectionErrorRetryHandler(), RateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES)],
    )


def api_error(exc: Exception) -> str:
    """A short, loggable name for a Web API failure (the API's error code, never a payload)."""
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error") or exc.response.status_code)[:100]
    return type(exc).__name__
