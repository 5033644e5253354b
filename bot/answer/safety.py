"""Content is data: what retrieved text may never do to an answer, enforced at the answer boundary.

Two rules, applied by :class:`bot.answer.service.AnswerService` to every answer whatever its
composer (extractive, LLM, a fallback) and whatever its surface (Slack, helpdesk note, CLI JSON,
the admin page's questions log):

1. **Instructions in sources are never quoted.** Ingest flags the sentences of a passage that read
   as instructions to an assistant (:mod:`bot.index.instructions`, the chunk's
   ``instruction_spans``). :func:`screen` blanks exactly those spans out of the passages before any
   composer sees them (so the LLM composer's prompt carries none of them either, fenced or not), and
   before citation snippets are taken from them; it makes the passages' ``<!...>`` mentions inert
   too. Both keep the passage's length, so any offset into it stays valid.
2. **Sources cannot ping a Slack channel or group.** A broadcast (``<!channel>``, ``<!here>``,
   ``<!everyone>``, plain ``@channel`` / ``@here`` / ``@everyone``) or a user-group mention
   (``<!subteam^S123|@oncall>``) quoted from a document would notify people when the answer is
   posted. :func:`neutralise_answer` rewrites them in the :class:`~bot.models.Answer` itself (so
   also whatever an LLM or a style rewrite wrote on its own)
   (text, citations, the closest source) into an inert ``@\u200bchannel`` (a zero-width space after
   the ``@``: readable, never a mention on any surface).
"""

from __future__ import annotations

import re
from dataclasses import replace

from bot.answer.retriever import Retrieval, RetrievedChunk
from bot.models import Answer, Citation

#: Between the ``@`` and the name of a neutralised mention: nothing Slack (or a helpdesk) parses as one.
ZERO_WIDTH_SPACE = "\u200b"

#: ``<!channel>``, ``<!here|here>``, ``<!everyone>``, ``<!subteam^S0123|@support>``, ``<!subteam^S0123>``.
_SPECIAL_MENTION = re.compile(r"<!(channel|here|everyone|group)(?:\|[^>]*)?>|<!subteam\^[A-Z0-9]+(?:\|@?([^>]*))?>",
                              re.I)
#: Plain ``@channel`` / ``@here`` / ``@everyone`` (Slack parses them with ``link_names``, many clients always).
_PLAIN_BROADCAST = re.compile(r"(?<![\w@])@(channel|here|everyone)\b", re.I)
#: Escaped forms a renderer would turn back into markup: ``&lt;!channel&gt;``.
_ESCAPED_MENTION = re.compile(r"&lt;!(channel|here|everyone|group|subteam\^[A-Z0-9]+)(?:\|[^&]*)?&gt;", re.I)


def without_instructions(chunk: RetrievedChunk) -> RetrievedChunk:
    """``chunk`` with its flagged instruction spans blanked out of its text (the spans then cleared).

    Each flagged character becomes a space (line breaks stay), so every other offset into the passage
    (an instruction span, a citation's position) still points at the same words.
    """
    if not chunk.instruction_spans:
        return chunk
    chars = list(chunk.text)
    for start, end in chunk.instruction_spans:
        for i in range(max(start, 0), min(end, len(chars))):
            if chars[i] != "\n":
                chars[i] = " "
    return replace(chunk, text="".join(chars), instruction_spans=())


def screen(retrieval: Retrieval) -> Retrieval:
    """The retrieval as composers and citations may see it: every passage's flagged instructions cut out,
    and its mentions (text, title, section) made inert already."""
    retrieval.chunks[:] = [_inert(without_instructions(c)) for c in retrieval.chunks]
    return retrieval


def _inert(chunk: RetrievedChunk) -> RetrievedChunk:
    # The text keeps its length (offsets into it stay valid); titles and sections are shown, not indexed into.
    return replace(chunk, text=neutralise_mentions(chunk.text, keep_length=True), title=neutralise_mentions(chunk.title),
                   section=neutralise_mentions(chunk.section))


def neutralise_mentions(text: str, *, keep_length: bool = False) -> str:
    """Slack broadcast and user-group mentions in ``text`` made inert (see the module docstring).

    ``keep_length``: every replacement is padded with spaces to the length of what it replaces, and
    plain ``@here`` (whose inert form is longer) is left for :func:`neutralise_answer`: offsets into
    a passage keep pointing at the same words.
    """

    def sized(match: re.Match[str], inert: str) -> str:
        return inert.ljust(len(match.group(0))) if keep_length else inert

    def special(match: re.Match[str]) -> str:
        if match.group(1):
            return sized(match, f"@{ZERO_WIDTH_SPACE}{match.group(1).lower()}")
        label = (match.group(2) or "group").strip().lstrip("@") or "group"
        return sized(match, f"@{ZERO_WIDTH_SPACE}{label}")

    text = _SPECIAL_MENTION.sub(special, text)
    text = _ESCAPED_MENTION.sub(lambda m: sized(m, f"@{ZERO_WIDTH_SPACE}{m.group(1).split('^')[0].lower()}"), text)
    if keep_length:
        return text
    return _PLAIN_BROADCAST.sub(lambda m: f"@{ZERO_WIDTH_SPACE}{m.group(1)}", text)


def _citation(c: Citation) -> Citation:
    return c.model_copy(update={"title": neutralise_mentions(c.title), "section": neutralise_mentions(c.section),
                                "snippet": neutralise_mentions(c.snippet)})


def neutralise_answer(answer: Answer) -> Answer:
    """``answer`` with no broadcast or user-group mention left in its text, citations or closest source."""
    return answer.model_copy(update={
        "text": neutralise_mentions(answer.text),
        "citations": [_citation(c) for c in answer.citations],
        "closest": _citation(answer.closest) if answer.closest is not None else None,
    })
