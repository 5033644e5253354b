"""Where a question was asked (a Slack thread, a helpdesk ticket), without changing ``answer()``'s signature.

A surface that knows the conversation a question came from wraps its call in :func:`asked_in`;
the questions log then stores that link beside the question, so the knowledge-gap view can send
an admin to the thread or the ticket::

    with asked_in(permalink):
        answer = answers.answer(question, audience, history)

The same pattern as :func:`bot.answer.context.answer_ref`. Import-light on purpose: only the
standard library, so that every surface and the wrapper that writes the log import it cheaply.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_asked_in: ContextVar[str | None] = ContextVar("helpdesk_asked_in", default=None)


@contextmanager
def asked_in(link: str | None) -> Iterator[None]:
    """Within the block, questions are logged as asked at ``link`` (None: nowhere to link to)."""
    token = _asked_in.set(link)
    try:
        yield
    finally:
        _asked_in.reset(token)


def current_link() -> str | None:
    return _asked_in.get()
