"""The contradiction and staleness finder: where the help center and the team's own replies disagree.

For each public article, every section (indexed chunk) is the query of a search over the solved
tickets (:meth:`~bot.answer.retriever.Retriever.related`, the internal collection, tickets only);
tickets updated within ``HELPDESK_HEALTH_TICKET_DAYS`` whose chunk is at least
``HELPDESK_HEALTH_TOPIC_SIMILARITY`` alike are "about the same thing". Their *public replies* (never
the customer's messages, never internal notes) are then compared with the *whole* article,
statement by statement (:mod:`bot.health.facts`), and a disagreement is flagged only when all of
these hold:

* **quantities**: the reply states a quantity of the same unit family as an article statement
  (days, business days, months, a price in one currency and period, a percentage, a rate, a count
  of the same thing); the two sentences say the same kind of thing (cosine of their embeddings at
  least ``HELPDESK_HEALTH_CLAIM_SIMILARITY``, and at least one content word in common); they are
  not about different plans or different named things (USPS vs UPS); the reply's value agrees
  with *no* quantity of that family the article states in a sentence nearly as alike (so "USPS
  refunds take up to 21 days" is not flagged against the 30-day void window of an article that
  also says 21 days for USPS), nor with one the reply itself states beside it ("within 14 days;
  yours was 20 days old"); the two values are less than ``MAX_RATIO`` apart (15 minutes and 7 days
  are not one policy restated); and no other article the same ticket was found for states the
  replied value in a sentence about as alike (the reply is about that article). A quantity is
  compared with the one of the article's sentence nearest in value ("$25 and $5,000"), and a
  bound with a bound: "within 10 days" allows "5-10 days" and "8 days", not "within 7 days".
* **menu paths**: the reply names a path that no public article has, while this article has one
  of the same depth that differs in exactly one step (a renamed menu item), in a sentence alike.
* **plan names**: the reply names a "<Name> plan" the help center never mentions, in a sentence
  alike to one of the article's that names the real plans.

A claim of a reply is held against one article only, the one whose sentence is most alike.
Findings with the same article sentence and the same replied value are one finding with every
ticket as evidence. Precision over recall: each rule errs towards silence.

Two more signals come from the state database (:class:`~bot.state.questions.QuestionLog`):
articles cited in answers voted "not helpful" more than "helpful" (at least
``HELPDESK_HEALTH_MIN_NOT_HELPFUL``), and articles not updated for ``HELPDESK_HEALTH_STALE_DAYS``
that at least ``HELPDESK_HEALTH_STALE_MIN_TICKETS`` recent tickets keep citing (a reply links to
the article, or a helpdesk draft cited it).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import structlog

from bot.answer.retriever import RetrievedChunk, Retriever
from bot.health.corpus import Article, KnowledgeIndex, TicketText, public_replies
from bot.health.facts import (
    PER_UNITS,
    TIME_UNITS,
    Quantity,
    Statement,
    UiPath,
    plan_names,
    same_step,
    statements,
)
from bot.health.report import (
    ArticleRef,
    CitingTicket,
    Contradiction,
    ContradictionKind,
    HealthReport,
    NotHelpful,
    QuestionEvidence,
    Stale,
    TicketEvidence,
)
from bot.models import Audience, DocumentKind
from bot.state.questions import QuestionLog, QuestionView

log = structlog.get_logger(__name__)

#: A reply value agrees with the article when a statement at most this much less alike than the most
#: alike one states it (the article may say it twice, in neighbouring sentences).
AGREE_MARGIN = 0.15
#: Another article explains a replied value when its agreeing sentence is at most this much less alike.
ELSEWHERE_MARGIN = 0.05
#: Two values further apart than this factor are not compared (see :func:`_apart`).
MAX_RATIO = 12.0
#: Longest query text of a section (title, section path, its checkable sentences).
QUERY_CHARS = 1500
#: Characters of a sentence kept as an excerpt.
EXCERPT_CHARS = 300
#: Questions / tickets listed as evidence per finding.
EVIDENCE_SHOWN = 5
_STOPWORDS = frozenset("""a an the and or but if then than so of to in on at for by with from into over under about as is
are was were be been being it its this that these those you your we our they their he she his her i me my us can could
will would should may might must do does did have has had not no yes all any each every more most less least up down out
only also just very per within after before when while where which who what how there here one two get got make use
please thanks thank hi hello let know see""".split())


UNIT_WORDS = frozenset(TIME_UNITS) | frozenset(PER_UNITS) | {w + "s" for w in TIME_UNITS} | {
    "business", "working", "calendar", "percent", "dollar", "dollars", "usd", "eur", "euro", "euros", "gbp"}


@dataclass(frozen=True)
class _Finding:
    key: tuple[str, ...]
    kind: ContradictionKind
    section: str
    article_text: str
    article_value: str
    reply_value: str
    similarity: float
    quantity: Quantity | None = None


@dataclass(frozen=True)
class HealthThresholds:
    """The finder's settings (``HELPDESK_HEALTH_*``); see the module docstring."""

    ticket_days: int = 90
    topic_similarity: float = 0.4
    claim_similarity: float = 0.6
    stale_days: int = 180
    stale_min_tickets: int = 3
    min_not_helpful: int = 3
    related_per_section: int = 8


def _content_words(text: str, quantity: Quantity | None = None) -> set[str]:
    """Stemmed content words, without the unit words ("days" says nothing about *what* takes days)."""
    words = {w.lower() for w in re.findall(r"[A-Za-z][A-Za-z\-]{2,}", text)}
    words = {w[:-1] if w.endswith("s") and len(w) > 4 else w for w in words if w not in _STOPWORDS}
    unit = set(quantity.family.split(":", 1)[-1].replace("/", " ").split()) if quantity else set()
    return words - UNIT_WORDS - unit


def _excerpt(text: str) -> str:
    text = " ".join(text.replace("**", "").split())
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1].rstrip() + "…"


def _compatible(a: Statement, b: Statement) -> bool:
    """Not about different plans or different named things (when both sentences say which)."""
    if a.plans and b.plans and not a.plans & b.plans:
        return False
    return not (a.names and b.names and not a.names & b.names)


def _renamed(article: UiPath, reply: UiPath) -> bool:
    """Same depth, exactly one step different: a menu item renamed (or the reply's is wrong)."""
    if len(article.key) != len(reply.key):
        return False
    n = len(article.key)
    return sum(not same_step(x, y, last=i == n - 1) for i, (x, y) in enumerate(zip(article.key, reply.key,
                                                                                    strict=True))) == 1


def _ref(article: Article) -> ArticleRef:
    return ArticleRef(doc_id=article.doc_id, title=article.title, url=article.url, updated_at=article.updated_at)


class _Vectors:
    """Sentence embeddings, each text embedded once per report."""

    def __init__(self, embed: Callable[[list[str]], np.ndarray]) -> None:
        self._embed = embed
        self._cache: dict[str, np.ndarray] = {}

    def add(self, texts: Sequence[str]) -> None:
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            for text, vector in zip(missing, self._embed(missing), strict=True):
                self._cache[text] = np.asarray(vector, dtype=np.float32)

    def cos(self, a: str, b: str) -> float:
        return float(np.dot(self._cache[a], self._cache[b]))


class HealthFinder:
    """Builds the :class:`~bot.health.report.HealthReport`.

    Args:
        retriever: the reader of the index (articles, and related solved tickets).
        questions: the questions log (not-helpful answers, drafts citing articles); None: those
            signals are left out.
        thresholds: see :class:`HealthThresholds`.
        clock: "now" (tests and benchmarks fix it).
    """

    def __init__(self, *, retriever: Retriever, questions: QuestionLog | None = None,
                 thresholds: HealthThresholds | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.retriever = retriever
        self.index = KnowledgeIndex(retriever)
        self.questions = questions
        self.t = thresholds or HealthThresholds()
        self.clock = clock

    def report(self) -> HealthReport:
        """Check every public article (see the module docstring)."""
        started = time.perf_counter()
        now = self.clock()
        articles = self.index.public_articles()
        vectors = _Vectors(self.retriever.embedder.embed)
        contradictions, matched = self.contradictions(articles, now=now, vectors=vectors)
        answered = self._answered(now)
        report = HealthReport(
            generated_at=now, articles=len(articles), tickets=len({t for ts in matched.values() for t in ts}),
            contradictions=contradictions, not_helpful=self.not_helpful(articles, answered),
            stale=self.stale(articles, now=now, answered=answered),
            settings={k: float(v) for k, v in asdict(self.t).items()},
        )
        log.info("health_report", articles=report.articles, tickets=report.tickets,
                 contradictions=len(report.contradictions), not_helpful=len(report.not_helpful),
                 stale=len(report.stale), seconds=round(time.perf_counter() - started, 1))
        return report

    # --- contradictions -----------------------------------------------------------------------------
    def _recent(self, chunk: RetrievedChunk, since: datetime) -> bool:
        return chunk.updated_at is None or chunk.updated_at >= since

    def related_replies(self, article: Article, *, since: datetime, plans: frozenset[str] = frozenset(),
                        ) -> list[RetrievedChunk]:
        """Recent ticket chunks about the same thing as a section of ``article`` that states something
        checkable (one entry per chunk, at its best similarity)."""
        found: dict[tuple[str, int], RetrievedChunk] = {}
        for passage in article.passages:
            checkable = statements(passage.text, plans=plans)
            if not checkable:
                continue
            # The title, the section and its checkable sentences: what a reply on the same thing would say
            # (shorter than the passage, so each query embeds faster).
            query = "\n".join([article.title, passage.section, *(s.text for s in checkable)])[:QUERY_CHARS]
            for chunk in self.retriever.related(query, Audience.AGENT, kind=DocumentKind.TICKET,
                                                limit=self.t.related_per_section):
                if chunk.similarity >= self.t.topic_similarity and self._recent(chunk, since):
                    key = (chunk.doc_id, chunk.chunk_no)
                    if key not in found or found[key].similarity < chunk.similarity:
                        found[key] = chunk
        return list(found.values())

    def contradictions(self, articles: Sequence[Article], *, now: datetime,
                       vectors: _Vectors | None = None) -> tuple[list[Contradiction], dict[str, set[str]]]:
        """The contradictions, and the recent tickets matched to each article."""
        vectors = vectors or _Vectors(self.retriever.embedder.embed)
        plans = plan_names(a.text for a in articles)
        mine = {a.doc_id: [(p.section, s) for p in a.passages for s in statements(p.text, plans=plans)]
                for a in articles}
        known_paths = [UiPath(segments=p.segments[:n], text="") for stmts in mine.values() for _, s in stmts
                       for p in s.paths for n in range(2, len(p.segments) + 1)]
        since = now - timedelta(days=self.t.ticket_days)
        related = {a.doc_id: self.related_replies(a, since=since, plans=plans) for a in articles}
        readers: dict[tuple[str, int], list[str]] = {}  # ticket chunk -> the articles it was found for
        for doc_id, chunks in related.items():
            for c in chunks:
                readers.setdefault((c.doc_id, c.chunk_no), []).append(doc_id)
        by_id = {a.doc_id: a for a in articles}
        candidates: list[tuple[Article, RetrievedChunk, Statement, _Finding]] = []
        for article in articles:
            if not mine[article.doc_id]:
                continue
            theirs = [(c, s) for c in related[article.doc_id] for reply in public_replies(c.text, c.section)
                      for s in statements(reply, plans=plans)]
            if not theirs:
                continue
            vectors.add([s.text for _, s in mine[article.doc_id]] + [s.text for _, s in theirs])
            for chunk, reply in theirs:
                for f in self._compare(article, mine[article.doc_id], reply, vectors, plans=plans,
                                       known_paths=known_paths):
                    others = [by_id[d] for d in readers.get((chunk.doc_id, chunk.chunk_no), []) if d != article.doc_id]
                    if f.quantity is not None and self._explained_elsewhere(f.quantity, reply, f.similarity, others,
                                                                            mine, vectors):
                        continue
                    candidates.append((article, chunk, reply, f))
        # One claim of a reply disagrees with one article: the one whose sentence is most alike (a reply
        # about the WooCommerce sync is not also about the Shopify one).
        best: dict[tuple[str, int, str, str], float] = {}
        for _, chunk, reply, f in candidates:
            claim_key = (chunk.doc_id, chunk.chunk_no, reply.text, f.reply_value)
            best[claim_key] = max(best.get(claim_key, 0.0), f.similarity)
        found: dict[tuple[str, ...], Contradiction] = {}
        for article, chunk, reply, f in candidates:
            if f.similarity < best[(chunk.doc_id, chunk.chunk_no, reply.text, f.reply_value)] - 1e-9:
                continue
            c = found.setdefault(f.key, Contradiction(
                article=_ref(article), kind=f.kind, section=f.section, article_excerpt=_excerpt(f.article_text),
                article_value=f.article_value, reply_value=f.reply_value))
            if all(t.doc_id != chunk.doc_id for t in c.tickets):
                c.tickets.append(TicketEvidence(doc_id=chunk.doc_id, title=chunk.title, url=chunk.url,
                                                updated_at=chunk.updated_at, excerpt=_excerpt(reply.text),
                                                value=f.reply_value, similarity=round(f.similarity, 3)))
        out = sorted(found.values(), key=lambda c: (-len(c.tickets), c.article.title, c.article_excerpt))
        return out, {doc_id: {c.doc_id for c in chunks} for doc_id, chunks in related.items()}

    def _compare(self, article: Article, mine: list[tuple[str, Statement]], reply: Statement, vectors: _Vectors,
                 *, plans: frozenset[str], known_paths: Sequence[UiPath]) -> list[_Finding]:
        """What ``reply`` says that ``article`` (its statements ``mine``) says otherwise."""
        out: list[_Finding] = []
        claim = self.t.claim_similarity
        for q in reply.quantities:
            # Per article sentence, the quantity of the family nearest in value ("$25 and $5,000": $5,000 to $5,001).
            same = []
            for section, s in mine:
                mates = [qa for qa in s.quantities if qa.family == q.family]
                if mates and _compatible(s, reply):
                    same.append((vectors.cos(s.text, reply.text), section, s, min(mates, key=lambda a: _distance(a, q))))
            words = _content_words(reply.text, q)
            close = [x for x in same if x[0] >= claim and words & _content_words(x[2].text, x[3])]
            if not close:
                continue
            sim, section, s, qa = max(close, key=lambda x: x[0])
            near = [x for x in same if x[0] >= sim - AGREE_MARGIN]
            if any(a.allows(q) for _, _, _, a in near):
                continue  # the article says so too, in a sentence about as alike
            if any(qa.allows(o) for o in reply.quantities if o is not q):
                continue  # the reply states the article's value too: this number is about something else
            if _apart(qa, q):
                continue
            out.append(_Finding(key=(article.doc_id, "quantity", s.text, qa.text, _canonical(q)), kind="quantity",
                                section=section, article_text=s.text, article_value=qa.text, reply_value=q.text,
                                similarity=sim, quantity=q))
        for path in reply.paths:
            if any(path.same_as(known) for known in known_paths):
                continue
            renamed = [(vectors.cos(s.text, reply.text), section, s, pa) for section, s in mine for pa in s.paths
                       if _renamed(pa, path)]
            renamed = [x for x in renamed if x[0] >= claim]
            if renamed:
                sim, section, s, pa = max(renamed, key=lambda x: x[0])
                out.append(_Finding(key=(article.doc_id, "ui_path", s.text, pa.text, path.text.lower()), kind="ui_path",
                                    section=section, article_text=s.text, article_value=pa.text,
                                    reply_value=path.text, similarity=sim))
        unknown = reply.plan_mentions - plans
        if plans and unknown:
            named = [(vectors.cos(s.text, reply.text), section, s) for section, s in mine if s.plans]
            named = [x for x in named if x[0] >= claim]
            if named:
                sim, section, s = max(named, key=lambda x: x[0])
                value = ", ".join(sorted(unknown))
                out.append(_Finding(key=(article.doc_id, "plan", s.text, value), kind="plan", section=section,
                                    article_text=s.text, article_value=", ".join(sorted(s.plans)),
                                    reply_value=f"{value} plan", similarity=sim))
        return out

    def _explained_elsewhere(self, q: Quantity, reply: Statement, sim: float, others: Sequence[Article],
                             mine: dict[str, list[tuple[str, Statement]]], vectors: _Vectors) -> bool:
        """Another article the same ticket was found for states the replied value, in a sentence about as
        alike: the reply is about that article's subject (void windows, not refund windows)."""
        agreeing = [s for a in others for _, s in mine[a.doc_id] if _compatible(s, reply)
                    and any(qa.allows(q) for qa in s.quantities)]
        if not agreeing:
            return False
        vectors.add([s.text for s in agreeing])
        return any(vectors.cos(s.text, reply.text) >= sim - ELSEWHERE_MARGIN for s in agreeing)

    # --- votes and staleness ------------------------------------------------------------------------
    def _answered(self, now: datetime) -> list[QuestionView]:
        if self.questions is None:
            return []
        since = now - timedelta(days=self.t.ticket_days)
        return self.questions.answered_questions(since=since)

    @staticmethod
    def _cites(question: QuestionView, article: Article) -> bool:
        for c in question.citations:
            if c.get("doc_id") == article.doc_id or (article.url and c.get("url") == article.url) \
                    or (not c.get("doc_id") and not c.get("url") and c.get("title") == article.title):
                return True
        return False

    def not_helpful(self, articles: Sequence[Article], answered: Sequence[QuestionView]) -> list[NotHelpful]:
        """Articles cited in answers voted "not helpful" more often than "helpful"."""
        voted = [q for q in answered if q.helpful or q.not_helpful]
        out = []
        for article in articles:
            citing = [q for q in voted if self._cites(q, article)]
            down = [q for q in citing if q.not_helpful > q.helpful]
            up = sum(1 for q in citing if q.helpful > q.not_helpful)
            if len(down) >= self.t.min_not_helpful and len(down) > up:
                out.append(NotHelpful(article=_ref(article), not_helpful=len(down), helpful=up, questions=[
                    QuestionEvidence(question=q.question[:300], surface=q.surface, link=q.link, asked_at=q.created_at)
                    for q in down[:EVIDENCE_SHOWN]]))
        return sorted(out, key=lambda f: (-f.not_helpful, f.article.title))

    def stale(self, articles: Sequence[Article], *, now: datetime, answered: Sequence[QuestionView]) -> list[Stale]:
        """Articles not updated for ``stale_days`` that recent tickets keep citing."""
        old = [a for a in articles if a.updated_at is not None
               and (now - a.updated_at).days >= self.t.stale_days]
        if not old:
            return []
        since = now - timedelta(days=self.t.ticket_days)
        tickets = [t for t in self.index.tickets() if t.updated_at is not None and t.updated_at >= since]
        drafts = [q for q in answered if q.surface == "helpdesk"]
        out = []
        for article in old:
            citing: dict[str, CitingTicket] = {}
            for t in _linking(tickets, article):
                citing[t.doc_id] = CitingTicket(doc_id=t.doc_id, title=t.title, url=t.url, updated_at=t.updated_at,
                                                how="linked in a reply")
            for q in drafts:
                if self._cites(q, article):
                    key = q.link or f"question:{q.id}"
                    citing.setdefault(key, CitingTicket(doc_id=key, title=q.question[:120], url=q.link,
                                                        updated_at=q.created_at, how="cited in a draft"))
            if len(citing) >= self.t.stale_min_tickets:
                listed = sorted(citing.values(), key=lambda c: c.updated_at or now, reverse=True)
                out.append(Stale(article=_ref(article), age_days=(now - article.updated_at).days,  # type: ignore[operator]
                                 tickets=listed[:EVIDENCE_SHOWN * 2]))
        return sorted(out, key=lambda f: (-len(f.tickets), -f.age_days))


def _linking(tickets: Sequence[TicketText], article: Article) -> list[TicketText]:
    if not article.url:
        return []
    url = article.url.rstrip("/").split("://", 1)[-1]
    return [t for t in tickets if url in t.replies]


def _distance(a: Quantity, b: Quantity) -> float:
    return abs(math.log(max(a.high, 1e-9) / max(b.high, 1e-9)))


def _apart(a: Quantity, b: Quantity) -> bool:
    """Values more than ``MAX_RATIO`` times apart: hardly the same policy restated (15 minutes vs 7 days)."""
    lo, hi = sorted((max(a.high, 1e-9), max(b.high, 1e-9)))
    return hi / lo > MAX_RATIO


def _canonical(q: Quantity) -> str:
    return f"{q.family}:{q.low:g}-{q.high:g}"
