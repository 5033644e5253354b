"""The optional style adapter hook, the per-surface router, and the guard that keeps them honest.

A style adapter rewrites a grounded, cited draft in a team's voice (a LoRA on a small local
model, or a fine-tuned model behind an OpenAI-compatible endpoint: the backends live in
:mod:`bot.finetune.adapters` and are built only when a surface's setting names one). Each
:class:`Surface` (helpdesk drafts, Slack answers to agents, Slack answers to customers) has its
own setting; :class:`StyleRouter` holds the adapter of each::

    router = StyleRouter.from_backends(surface_backends(settings), build=build_backend)
    answer = router.apply(Surface.SLACK_CUSTOMER, answer)      # Answer in, Answer out
    outcome = router.restyle(Surface.HELPDESK_DRAFTS, draft)   # text, reason, backend, ms

Whatever the adapter is, it may only change the *wording*: :func:`guard_restyle` keeps the
unstyled draft unless every "hard" token of the draft survives the rewrite and none is added:

* citation markers ``[n]`` (``[1, 2]`` counts as ``[1]`` and ``[2]``),
* numbers (prices, limits, days, error codes' digits),
* URLs and email addresses,
* ``code spans`` (and fenced code blocks),
* product and proper names (:func:`protected_names`): words with a capital inside (``iPhone``,
  ``macOS``), acronyms (``SSO``) and capitalised words that do not start a sentence
  (``Apple Watch``, ``Settings > Billing``). A rewrite must keep each one (anywhere, so moving
  it to a sentence start is fine) and may not bring in a new one ("Hi Maya", "Parcelly Pro"),
  except a few greeting and closing words (``Thanks``, ``Cheers`` ...).

Tokens are compared as sets: a rewrite may merge two sentences that both cite ``[1]``, but may not
drop a source, change "14 days" into "two weeks", or invent a link.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

import structlog

from bot.answer.citations import MARKER
from bot.models import Answer
from bot.settings import Settings

log = structlog.get_logger(__name__)

_FENCE = re.compile(r"```.*?```", re.S)
_CODE_SPAN = re.compile(r"`[^`\n]+`")
_URL = re.compile(r"\bhttps?://[^\s<>()\[\]\"']+", re.I)
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_TRAILING = ".,;:!?)"

# Names: a word with a capital inside, an acronym, or a capitalised word not starting a sentence.
_WORD = re.compile(r"(?<![\w'’-])[A-Za-z][A-Za-z0-9]*(?:['’-][A-Za-z0-9]+)*")
_OPENERS = "*_\"'“‘([#>`~ \t"
#: Never names on their own: the pronoun, and greeting / closing words a rewrite may add.
_NOT_NAMES = frozenset({"I", "I'm", "I'll", "I've", "I'd", "OK"})
_STYLE_WORDS = frozenset({
    "Thanks", "Thank", "Hi", "Hello", "Hey", "Please", "Sorry", "Cheers", "Best", "Regards", "Kind",
    "Yes", "No", "Sure", "Great", "Happy", "Glad", "Welcome", "Dear", "There", "Team", "Warm", "Okay",
    "TY", "Morning", "Afternoon", "Evening", "Apologies",
})

#: Reasons :func:`guard_restyle` gives (the second item of its result).
KEPT_RESTYLED = "restyled"
UNCHANGED = "unchanged"


@runtime_checkable
class StyleAdapter(Protocol):
    """Rewrites a draft in a house style; must keep its facts, citations and links."""

    def restyle(self, draft: str) -> str: ...


@runtime_checkable
class PreloadableStyleAdapter(StyleAdapter, Protocol):
    """An adapter with a model to load before the first rewrite (:meth:`StyleRouter.warm` calls it)."""

    def load(self) -> None: ...


class NoStyle:
    """The default adapter: the draft as it is."""

    name = "none"

    def restyle(self, draft: str) -> str:
        return draft


class Surface(StrEnum):
    """Where an answer goes; each has its own style setting."""

    HELPDESK_DRAFTS = "helpdesk_drafts"
    SLACK_AGENT = "slack_agent"
    SLACK_CUSTOMER = "slack_customer"


def surface_backends(settings: Settings) -> dict[Surface, str]:
    """The style backend each surface's setting names (``none``, ``local`` or ``openai``)."""
    return {
        Surface.HELPDESK_DRAFTS: settings.style_helpdesk_drafts,
        Surface.SLACK_AGENT: settings.style_slack_agent,
        Surface.SLACK_CUSTOMER: settings.style_slack_customer,
    }


@dataclass(frozen=True)
class StyleOutcome:
    text: str
    reason: str  # "restyled", "unchanged", or why the draft was kept
    backend: str
    ms: float

    @property
    def restyled(self) -> bool:
        return self.reason == KEPT_RESTYLED


class StyleRouter:
    """One style adapter per surface; backends are built once and shared between surfaces."""

    def __init__(self, adapters: Mapping[Surface, StyleAdapter] | None = None) -> None:
        self._adapters: dict[Surface, StyleAdapter] = dict(adapters or {})

    @classmethod
    def from_backends(cls, backends: Mapping[Surface, str], *, build: Callable[[str], StyleAdapter]) -> StyleRouter:
        """Build each backend named in ``backends`` once (``build(name)``); ``none`` builds nothing."""
        built: dict[str, StyleAdapter] = {}
        adapters: dict[Surface, StyleAdapter] = {}
        for surface, backend in backends.items():
            if backend == "none":
                continue
            if backend not in built:
                built[backend] = build(backend)
            adapters[surface] = built[backend]
        return cls(adapters)

    def adapter(self, surface: Surface) -> StyleAdapter:
        return self._adapters.get(surface) or NoStyle()

    def warm(self) -> None:
        """Load local models now (at start-up) instead of on the first answer."""
        for adapter in {id(a): a for a in self._adapters.values()}.values():
            if isinstance(adapter, PreloadableStyleAdapter):
                adapter.load()

    def restyle(self, surface: Surface, draft: str) -> StyleOutcome:
        adapter = self.adapter(surface)
        started = time.perf_counter()
        text, reason = apply_style(adapter, draft)
        ms = (time.perf_counter() - started) * 1000
        backend = str(getattr(adapter, "name", type(adapter).__name__))
        if backend != "none":
            log.info("style_applied", surface=surface.value, backend=backend, outcome=reason.split(":", 1)[0],
                     ms=round(ms, 1))
        return StyleOutcome(text=text, reason=reason, backend=backend, ms=ms)

    def apply(self, surface: Surface, answer: Answer) -> Answer:
        """``answer`` with its text restyled for ``surface`` (abstentions and unstyled surfaces untouched)."""
        if answer.abstained or isinstance(self.adapter(surface), NoStyle):
            return answer
        outcome = self.restyle(surface, answer.text)
        timings = {**answer.timings, "style_ms": outcome.ms}
        if outcome.text == answer.text or outcome.reason == UNCHANGED:
            return answer.model_copy(update={"timings": timings})
        return answer.model_copy(update={"text": outcome.text, "timings": timings})


def protected_tokens(text: str) -> dict[str, set[str]]:
    """The tokens a rewrite must keep, by kind: markers, numbers, urls, emails, code."""
    out: dict[str, set[str]] = {"code": set(), "urls": set(), "emails": set(), "markers": set(), "numbers": set()}
    # Code first, and cut out of the text, so the digits inside a code span count as the span.
    for pattern in (_FENCE, _CODE_SPAN):
        out["code"].update(m.group(0).strip() for m in pattern.finditer(text))
        text = pattern.sub(" ", text)
    out["urls"].update(m.group(0).rstrip(_TRAILING) for m in _URL.finditer(text))
    text = _URL.sub(" ", text)
    out["emails"].update(m.group(0).lower() for m in _EMAIL.finditer(text))
    text = _EMAIL.sub(" ", text)
    for m in MARKER.finditer(text):
        out["markers"].update(f"[{int(n)}]" for n in re.split(r"\s*,\s*", m.group(1)))
    text = MARKER.sub(" ", text)
    out["numbers"].update(m.group(0) for m in _NUMBER.finditer(text))
    return out


def _strip_hard_tokens(text: str) -> str:
    for pattern in (_FENCE, _CODE_SPAN, _EMAIL, MARKER):
        text = pattern.sub(" ", text)
    # A URL's trailing full stop still ends its sentence.
    return _URL.sub(lambda m: " " + m.group(0)[len(m.group(0).rstrip(_TRAILING)):], text)


def _all_words(text: str) -> set[str]:
    words = {m.group(0).replace("’", "'") for m in _WORD.finditer(_strip_hard_tokens(text))}
    return words | {w[:-2] for w in words if w.endswith("'s")}


def protected_names(text: str) -> set[str]:
    """Product and proper names of ``text`` (see the module docstring), code, links and markers left out."""
    text = _strip_hard_tokens(text)
    out: set[str] = set()
    for m in _WORD.finditer(text):
        word = m.group(0).replace("’", "'")
        if word in _NOT_NAMES:
            continue
        if word.endswith("'s"):
            word = word[:-2]
        letters = [c for c in word if c.isalpha()]
        inner_capital = any(c.isupper() for c in word[1:]) and any(c.islower() for c in word)
        acronym = len(letters) >= 2 and all(c.isupper() for c in letters)
        if inner_capital or acronym:
            out.add(word)
            continue
        if not word[0].isupper():
            continue
        before = text[: m.start()].rstrip(_OPENERS)
        # An emoji or other pictograph (Unicode "So") before a word starts a new sentence too.
        starts_sentence = (not before or before[-1] in ".!?:;\n" or before.endswith(("-", "•"))
                           or unicodedata.category(before[-1]) == "So")
        if not starts_sentence:
            out.add(word)
    return out


def guard_restyle(draft: str, restyled: str, *, check_names: bool = True) -> tuple[str, str]:
    """The restyled text when it keeps every protected token of ``draft`` and adds none, else ``draft``.

    ``check_names=False`` leaves product and proper names out of the comparison.

    Returns:
        ``(text, reason)``: ``reason`` is ``"restyled"``, ``"unchanged"``, or why the draft was
        kept (``"empty restyle"``, ``"missing urls: ..."``, ``"added numbers: ..."`` ...).
    """
    if not isinstance(restyled, str) or not restyled.strip():
        return draft, "empty restyle"
    if restyled.strip() == draft.strip():
        return draft, UNCHANGED
    before, after = protected_tokens(draft), protected_tokens(restyled)
    problems: list[str] = []
    for kind in before:
        missing, added = before[kind] - after[kind], after[kind] - before[kind]
        if missing:
            problems.append(f"missing {kind}: {_short(missing)}")
        if added:
            problems.append(f"added {kind}: {_short(added)}")
    if check_names:
        # Names compare leniently: kept anywhere (case-sensitive), added only when the draft has no such word.
        draft_words = {w.lower() for w in _all_words(draft)}
        missing_names = protected_names(draft) - _all_words(restyled)
        added_names = {w for w in protected_names(restyled) - _STYLE_WORDS if w.lower() not in draft_words}
        if missing_names:
            problems.append(f"missing names: {_short(missing_names)}")
        if added_names:
            problems.append(f"added names: {_short(added_names)}")
    if problems:
        return draft, "; ".join(problems)
    return restyled.strip(), KEPT_RESTYLED


def apply_style(adapter: StyleAdapter | None, draft: str) -> tuple[str, str]:
    """Call the adapter and guard its output; an adapter that fails leaves the draft as it is."""
    if adapter is None or isinstance(adapter, NoStyle):
        return draft, UNCHANGED
    try:
        restyled = adapter.restyle(draft)
    except Exception as exc:  # noqa: BLE001 - any adapter failure falls back to the grounded draft
        log.warning("style_adapter_failed", adapter=type(adapter).__name__, error=type(exc).__name__)
        return draft, f"adapter failed ({type(exc).__name__})"
    text, reason = guard_restyle(draft, restyled)
    if reason not in (KEPT_RESTYLED, UNCHANGED):
        # Never log the texts or their tokens (an email is personal data): the kinds of problem only.
        log.info("style_restyle_rejected", adapter=type(adapter).__name__,
                 problems=[p.split(":", 1)[0] for p in reason.split("; ")])
    return text, reason


def _short(values: Iterable[str], limit: int = 3) -> str:
    items = sorted(values)
    shown = ", ".join(v if len(v) <= 40 else v[:39] + "…" for v in items[:limit])
    return shown + (f" (+{len(items) - limit})" if len(items) > limit else "")
