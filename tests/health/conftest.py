"""A small help center and its tickets, synced for real (files connector, Qdrant Edge, the real model)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.runtime import Runtime
from bot.settings import Settings
from tests.support.kb import write_files_sources

NOW = datetime(2026, 12, 1, tzinfo=UTC)
REFUND_URL = "https://help.example/articles/refund"

ARTICLES = {
    "refund.md": f"""---
title: Request a subscription refund
url: {REFUND_URL}
audience: public
updated_at: 2025-01-15
---
# Request a subscription refund

You can request a full refund of a subscription charge within **14 days** of the charge date.

## Request a refund in the app

1. Go to **Settings > Billing > Invoices**.
2. Find the charge and click **⋯ > Request refund**.

## When will I see the money?

Card refunds take **5–10 business days** to appear on your statement.
""",
    "void.md": """---
title: Void a label
url: https://help.example/articles/void
audience: public
updated_at: 2026-10-01
---
# Void a label

You can void any unused label within **30 days** of buying it. USPS refunds for voided labels take up to **21 days**.
""",
    "plans.md": """---
title: Plans and pricing
url: https://help.example/articles/plans
audience: public
updated_at: 2026-10-01
---
# Plans and pricing

Parcelly has three plans — Starter, Growth and Pro. On Growth, the API limit is **120 requests per minute**.
""",
}


def ticket(number: int, *, reply: str, customer: str = "Hi, a question about my subscription refund.",
           note: str = "", updated: str = "2026-11-20") -> str:
    body = f"## Customer\n{customer}\n\n## Agent reply\nHi Sam,\n\n{reply}\n\nBest,\nPriya\n"
    if note:
        body += f"\n## Internal note\n{note}\n"
    return (f"---\ntitle: \"Ticket {number}\"\nurl: https://acme.zendesk.com/agent/tickets/{number}\naudience: internal\n"
            f"kind: ticket\nupdated_at: {updated}\n---\n{body}")


TICKETS = {
    # says otherwise: the refund window
    "t1.md": ticket(1, reply="Subscription charges can be refunded within 30 days of the charge date."),
    # says the same, in other words (and links the article)
    "t2.md": ticket(2, reply=f"You can get a full refund of a subscription charge within two weeks of the charge. "
                             f"See {REFUND_URL} for the steps."),
    # the customer is wrong, the agent right
    "t3.md": ticket(3, customer="I read that I have 30 days to ask for a subscription refund?",
                    reply=f"Subscription refunds are possible within 14 days of the charge date ({REFUND_URL})."),
    # a renamed menu path
    "t4.md": ticket(4, reply=f"To request the refund, go to Settings > Payments > Invoices and pick the charge. "
                             f"More at {REFUND_URL}."),
    # too old to count
    "t5.md": ticket(5, reply="Subscription charges can be refunded within 60 days of the charge date.",
                    updated="2025-01-01"),
    # only an internal note disagrees: nobody was told that
    "t6.md": ticket(6, reply="I've requested the refund for you.",
                    note="We used to refund subscription charges within 45 days of the charge date."),
    # about voiding labels, not subscription refunds
    "t7.md": ticket(7, customer="How long do I have to void a label and get the postage back?",
                    reply="You can void unused labels within 30 days of buying them; USPS refunds take up to 21 days."),
    # a plan the help center does not have
    "t8.md": ticket(8, customer="What is the API limit on my plan?",
                    reply="On the Business plan, the API limit is 120 requests per minute."),
}


def write_kb(root: Path, articles: dict[str, str] = ARTICLES, tickets: dict[str, str] = TICKETS) -> Path:
    for folder, files in (("articles", articles), ("tickets", tickets)):
        (root / folder).mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (root / folder / name).write_text(text, encoding="utf-8")
    return write_files_sources(root)


@pytest.fixture(scope="module")
def health_runtime(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> Iterator[Runtime]:
    """A runtime over the small help center above, synced once per module."""
    root = tmp_path_factory.mktemp("health-kb")
    settings = Settings(_env_file=None, data_dir=root / "data", sources_file=write_kb(root),  # type: ignore[call-arg]
                        sample_kb=False, embed_threads=2)
    rt = Runtime(settings, embedder=embedder)
    for name in ("articles", "tickets"):
        assert rt.syncs.run(name) is not None
    yield rt
    rt.close()


@pytest.fixture
def clock() -> Callable[[], datetime]:
    return lambda: NOW


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Any]:
    from bot.state import StateStore

    s = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    yield s
    s.close()
