"""Channel → audience, against the fake Web API (conversations.info)."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient

from bot.models import Audience
from bot.slack.audience import AudienceResolver
from tests.fakes.slack_server import FakeSlack


@pytest.fixture
def client(slack: FakeSlack) -> WebClient:
    return WebClient(token=slack.token, base_url=slack.api_url, timeout=5)


@pytest.mark.parametrize(("flags", "expected"), [
    ({}, Audience.AGENT),
    ({"is_ext_shared": True, "is_shared": True}, Audience.CUSTOMER),  # Slack Connect
    ({"is_pending_ext_shared": True}, Audience.CUSTOMER),  # invitation out: treat as shared already
    ({"is_shared": True, "is_org_shared": False}, Audience.CUSTOMER),  # shared, can't tell where: fail closed
    ({"is_shared": True, "is_org_shared": True}, Audience.AGENT),  # shared inside the organisation
])
def test_sharing_flags(slack: FakeSlack, client: WebClient, flags: dict, expected: Audience) -> None:
    slack.add_channel("C0TEST01", "some-channel", **flags)
    assert AudienceResolver(client).for_channel("C0TEST01") is expected


def test_listed_channels_by_id_or_name(slack: FakeSlack, client: WebClient) -> None:
    slack.add_channel("C0NAMED1", "vip-customers")
    resolver = AudienceResolver(client, customer_channels=["C0LISTED", "#vip-customers"])
    assert resolver.for_channel("C0LISTED") is Audience.CUSTOMER
    assert slack.calls_to("conversations.info") == []  # an id in the list needs no look-up
    assert resolver.for_channel("C0NAMED1") is Audience.CUSTOMER


def test_cached_then_looked_up_again_after_the_ttl(slack: FakeSlack, client: WebClient) -> None:
    slack.add_channel("C0TEST01", "team")
    now = [0.0]
    resolver = AudienceResolver(client, ttl_s=60, clock=lambda: now[0])
    assert resolver.for_channel("C0TEST01") is Audience.AGENT
    slack.channels["C0TEST01"]["is_ext_shared"] = True  # the channel becomes Slack Connect
    assert resolver.for_channel("C0TEST01") is Audience.AGENT
    assert len(slack.calls_to("conversations.info")) == 1
    assert resolver.for_channel("C0TEST01", ext_shared_hint=True) is Audience.CUSTOMER  # the event says so
    now[0] = 61
    assert resolver.for_channel("C0TEST01") is Audience.CUSTOMER
    assert len(slack.calls_to("conversations.info")) == 2


def test_lookup_failure_is_customer(slack: FakeSlack, client: WebClient) -> None:
    assert AudienceResolver(client).for_channel("C0UNKNOWN") is Audience.CUSTOMER
    dead = WebClient(token=slack.token, base_url="http://127.0.0.1:9/api/", timeout=1)
    assert AudienceResolver(dead).for_channel("C0TEST01") is Audience.CUSTOMER
