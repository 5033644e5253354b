"""Which answer id an ``answer()`` call belongs to, without changing ``answer()``'s signature.

A surface that records feedback under its own answer id (Slack's Helpful / Not helpful buttons)
wraps its call in :func:`answer_ref`; the questions log then stores that id beside the question,
so the admin page can show each question's feedback and list "not helpful" answers as gaps::

    with answer_ref(answer_id):
        answer = answers.answer(question, audience, history)

It sits in the answer layer so that the surfaces that set it (Slack) and the wrapper that reads
it (:class:`bot.web.metrics.MeteredAnswerService`) both import it downwards. Import-light on
purpose: only the standard library.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_answer_ref: ContextVar[str | None] = ContextVar("helpdesk_answer_ref", default=None)


@contextmanager
def answer_ref(answer_id: str | None) -> Iterator[None]:
    """Within the block, answers are logged under ``answer_id``."""
    token = _answer_ref.set(answer_id)
    try:
        yield
    finally:
        _answer_ref.reset(token)


def current_answer_ref() -> str | None:
    return _answer_ref.get()
