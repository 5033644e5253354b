"""Fixtures of the fine-tuning tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """``bot.cli.main`` configures structlog to print to the (captured) stderr of the test: undo it."""
    old = structlog.get_config()
    yield
    structlog.configure(**old)
