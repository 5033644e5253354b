"""Logging as a process configures it, undone afterwards: tests that call ``configure_logging`` or ``main()``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import structlog

from bot.logging import LIBRARY_LOGGERS_UNDER_OURS, OWN_LOGGERS, configure_logging


@contextmanager
def restored_logging() -> Iterator[None]:
    """Restore structlog's configuration, the root logger's handlers and level, and our loggers' levels."""
    saved, root = structlog.get_config(), logging.getLogger()
    handlers, level = list(root.handlers), root.level
    names = (*OWN_LOGGERS, *LIBRARY_LOGGERS_UNDER_OURS)
    levels = {name: logging.getLogger(name).level for name in names}
    try:
        yield
    finally:
        structlog.configure(**saved)
        root.handlers[:], root.level = handlers, level
        for name, lvl in levels.items():
            logging.getLogger(name).setLevel(lvl)


@contextmanager
def configured_logging(level: str = "INFO", fmt: str = "json") -> Iterator[None]:
    """``configure_logging(level, fmt)`` for the block, as ``helpdesk-bot`` configures it at start."""
    with restored_logging():
        configure_logging(level, fmt)
        yield
