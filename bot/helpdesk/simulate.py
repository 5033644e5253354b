"""Draft quality over past support conversations (``helpdesk-bot simulate``, ``benchmarks/draft_quality.py``).

Data: ``../shared/data/tickets/conversations.jsonl`` (evaluation only, never shipped; the run skips
cleanly when it is absent): ``{source, id, company, turns: [{role, text}]}``.

Knowledge base
    Every conversation with a customer turn answered by an agent becomes one INTERNAL ticket
    document in a temporary embedded store (Qdrant Edge under a temporary directory): its text is
    the agent replies, its title the company and the start of the customer's first message (what
    a ticket subject would say). It goes through the product's real indexer (PII masking,
    chunking, dense + BM25 vectors).

Drafting
    For a sample (``--limit``, seeded) of those conversations: the customer's first turn (the first
    run of consecutive customer messages) is answered by the product's :class:`AnswerService`
    with the AGENT audience (the only audience that may read tickets), extractive composer,
    the configured confidence gate.

Leave-one-out
    The conversation being drafted must not answer itself. Re-indexing per fold (hundreds of
    folds over the whole corpus) is too slow here, so retrieval *filters it out*: the retriever
    asks for ``limit + max chunks per document`` candidates and drops the held-out document's
    chunks, which leaves exactly the ranking of the other documents. Two second-order leaks
    remain and are small: the sparse IDF statistics still count the held-out document (one of
    ~1,900), and the RRF fusion inside Qdrant ranks the others with it present (a document
    below it moves down one rank in each list).

Metrics (over the sample)
    * ``cite_rate``: drafts with at least one citation; ``abstain_rate``: drafts that abstained.
    * ``reasons``: the reason recorded with each abstention (:class:`bot.models.AnswerReason`); with
      ``check_reasons``, ``reasons_right_share``: the abstentions whose reason a counterfactual
      check confirms (:func:`bot.health.reasons.check_reason`: remove the named obstacle, ask again).
    * Similarity of each non-abstained draft (citation markers and Markdown removed) to the agent's
      real first reply: ``cosine`` of the project's :class:`Embedder` vectors (all-MiniLM-L6-v2,
      normalised), and ``token_f1`` (SQuAD-style: lower case, URLs, @handles, punctuation and
      articles removed, bag-of-tokens F1).
    * Baselines on the same conversations: a random *other* conversation's first agent reply
      (``random_*``), and a random other conversation *of the same company* (``same_company_*``,
      a stronger baseline: brand boilerplate alone scores there).
"""

from __future__ import annotations

import json
import random
import re
import statistics
import string
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bot.answer.citations import MARKER
from bot.answer.retriever import Retrieval, Retriever
from bot.answer.service import AnswerService
from bot.health.reasons import check_reason
from bot.index.edge_store import EdgeStore
from bot.index.embeddings import Embedder
from bot.index.schema import collection_name
from bot.models import Audience, Document, DocumentKind, Visibility
from bot.runtime import Runtime
from bot.settings import Settings

#: Where the shared data set lives relative to the project root (the repository's parent).
DEFAULT_CONVERSATIONS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "tickets" / "conversations.jsonl"
DEFAULT_LIMIT = 300
DEFAULT_SEED = 13
PREFIX = "sim"
SOURCE = "conversations"
TITLE_CHARS = 120

_URL = re.compile(r"https?://\S+|www\.\S+", re.I)
_HANDLE = re.compile(r"(?<!\w)@\w+")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans({c: " " for c in string.punctuation + "“”‘’…—–"})


@dataclass(frozen=True)
class Conversation:
    id: str
    company: str
    question: str  # the customer's first turn (consecutive customer messages joined)
    reply: str  # the agent's first reply after it
    agent_text: str  # every agent reply: the knowledge-base document

    @property
    def doc_id(self) -> str:
        return f"{SOURCE}:ticket:{self.id}"


def read_conversations(path: Path) -> Iterator[Conversation]:
    """Conversations with a customer turn answered by an agent; others are skipped."""
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            row = json.loads(line)
            turns = [t for t in row.get("turns") or [] if isinstance(t, dict) and isinstance(t.get("text"), str)]
            first = next((i for i, t in enumerate(turns) if t.get("role") == "customer"), None)
            if first is None:
                continue
            end = first
            while end < len(turns) and turns[end].get("role") == "customer":
                end += 1
            reply = next((t["text"] for t in turns[end:] if t.get("role") == "agent"), None)
            agent = [t["text"].strip() for t in turns if t.get("role") == "agent" and t["text"].strip()]
            question = "\n".join(t["text"].strip() for t in turns[first:end]).strip()
            if not reply or not reply.strip() or not question:
                continue
            yield Conversation(id=str(row.get("id")), company=str(row.get("company") or ""), question=question,
                               reply=reply.strip(), agent_text="\n\n".join(agent))


def conversation_document(conv: Conversation) -> Document:
    opening = " ".join(conv.question.split())
    if len(opening) > TITLE_CHARS:
        opening = opening[: TITLE_CHARS - 1].rstrip() + "…"
    return Document(id=conv.doc_id, source=SOURCE, kind=DocumentKind.TICKET, audience=Visibility.INTERNAL,
                    title=f"{conv.company}: {opening}" if conv.company else opening, text=conv.agent_text,
                    metadata={"company": conv.company})


class LeaveOneOutRetriever(Retriever):
    """A retriever that never returns the chunks of ``exclude`` (the conversation being drafted)."""

    def __init__(self, *args: Any, overfetch: int = 1, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.overfetch = overfetch
        self.exclude: str | None = None

    def retrieve(self, question: str, audience: Audience, *, limit: int | None = None) -> Retrieval:
        want = limit or self.params.limit
        retrieval = super().retrieve(question, audience, limit=want + self.overfetch)
        retrieval.chunks = [c for c in retrieval.chunks if c.doc_id != self.exclude][:want]
        return retrieval


def normalize_tokens(text: str) -> list[str]:
    text = _URL.sub(" ", text)
    text = _HANDLE.sub(" ", text).lower().translate(_PUNCT)
    return _ARTICLES.sub(" ", text).split()


def token_f1(prediction: str, reference: str) -> float:
    pred, ref = normalize_tokens(prediction), normalize_tokens(reference)
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def clean_draft(text: str) -> str:
    """The draft as a reader sees it: no citation markers, no Markdown emphasis or quote marks."""
    text = MARKER.sub("", text).replace("**", "")
    return "\n".join(line.lstrip("> ").rstrip() for line in text.splitlines()).strip()


def run_simulation(
    settings: Settings,
    *,
    conversations: Path = DEFAULT_CONVERSATIONS,
    limit: int = DEFAULT_LIMIT,
    seed: int = DEFAULT_SEED,
    kb_limit: int | None = None,
    embedder: Embedder | None = None,
    per_conversation: bool = False,
    check_reasons: bool = False,
    progress: Callable[[str], None] = lambda message: None,
) -> dict[str, Any]:
    """Index, draft leave-one-out, score; returns the JSON-able result (see the module docstring)."""
    if not conversations.is_file():
        return {"benchmark": "draft_quality", "skipped": f"conversations file not found: {conversations}"}
    started = time.perf_counter()
    convs = list(read_conversations(conversations))
    rng = random.Random(seed)
    sample = rng.sample(convs, min(limit, len(convs))) if limit > 0 else []
    kb = convs
    if kb_limit is not None and kb_limit < len(convs):
        chosen = {c.id for c in sample}
        others = [c for c in convs if c.id not in chosen]
        kb = sample + rng.sample(others, max(0, min(len(others), kb_limit - len(sample))))
    if len(sample) < 2 or len(kb) < 2:
        return {"benchmark": "draft_quality", "skipped": f"too few usable conversations ({len(convs)})"}
    # The product's own parts (indexer, retrieval settings) on a throwaway store of its own.
    sim_settings = settings.model_copy(update={"collection_prefix": PREFIX})
    with tempfile.TemporaryDirectory(prefix="helpdesk-sim-") as tmp, \
            Runtime(sim_settings, store=EdgeStore(Path(tmp) / "qdrant"), embedder=embedder) as rt:
        progress(f"indexing {len(kb)} conversations as internal tickets")
        t_index = time.perf_counter()
        stats = rt.indexer.index([conversation_document(c) for c in kb])
        rt.store.flush()
        index_s = time.perf_counter() - t_index
        internal = collection_name(PREFIX, Visibility.INTERNAL)
        per_doc = Counter(p["doc_id"] for p in rt.store.scroll_payloads(internal, fields=("doc_id",)))
        # Configured like the runtime's retriever; extractive composer whatever HELPDESK_COMPOSER says.
        base = rt.retriever
        retriever = LeaveOneOutRetriever(store=base.store, embedder=base.embedder, sparse=base.sparse,
                                         params=base.params, collection_prefix=base.prefix,
                                         overfetch=max(per_doc.values(), default=1))
        answers = AnswerService(retriever=retriever, min_confidence=settings.min_confidence,
                                max_question_chars=settings.max_question_chars)
        progress(f"drafting {len(sample)} replies (leave-one-out)")
        rows: list[dict[str, Any]] = []
        draft_ms: list[float] = []
        for conv in sample:
            retriever.exclude = conv.doc_id
            t = time.perf_counter()
            answer = answers.answer(conv.question[: settings.max_question_chars], Audience.AGENT)
            draft_ms.append((time.perf_counter() - t) * 1000)
            cited = [c.doc_id for c in answer.citations]
            if conv.doc_id in cited:  # the filter above makes this impossible; say so if it ever is not
                raise AssertionError(f"leave-one-out violated for {conv.id}")
            row = {"id": conv.id, "company": conv.company, "abstained": answer.abstained, "reason": answer.reason.value,
                   "cited": cited, "confidence": round(answer.confidence, 4),
                   "closest": answer.closest.doc_id if answer.closest else None,
                   "draft": clean_draft(answer.text) if not answer.abstained else ""}
            if check_reasons and answer.abstained:
                question = conv.question[: settings.max_question_chars]
                row["reason_right"] = check_reason(answer, question, Audience.AGENT, service=answers)
            rows.append(row)
        embedder = rt.embedder
    result = _score(sample, kb, rows, embedder, random.Random(seed + 1))
    result.update({
        "kb_documents": len(kb), "kb_chunks": stats.chunks_embedded, "index_s": round(index_s, 1),
        "draft_ms_p50": round(statistics.median(draft_ms), 1) if draft_ms else 0.0,
        "min_confidence": settings.min_confidence, "seed": seed, "conversations_file": conversations.name,
        "elapsed_s": round(time.perf_counter() - started, 1),
    })
    result = {"benchmark": "draft_quality", **result}
    if per_conversation:
        result["per_conversation"] = rows
    return result


def _score(sample: list[Conversation], kb: list[Conversation], rows: list[dict[str, Any]], embedder: Embedder,
           rng: random.Random) -> dict[str, Any]:
    n = len(rows)
    answered = [(conv, row) for conv, row in zip(sample, rows, strict=True) if not row["abstained"] and row["draft"]]
    by_company: dict[str, list[Conversation]] = {}
    for c in kb:
        by_company.setdefault(c.company, []).append(c)
    random_refs: list[str] = []
    company_refs: list[str | None] = []
    for conv, _ in answered:
        other = rng.choice([c for c in kb if c.id != conv.id])
        random_refs.append(other.reply)
        peers = [c for c in by_company.get(conv.company, []) if c.id != conv.id]
        company_refs.append(rng.choice(peers).reply if peers else None)
    drafts = [row["draft"] for _, row in answered]
    refs = [conv.reply for conv, _ in answered]
    texts = drafts + refs + random_refs + [r for r in company_refs if r is not None]
    vectors = embedder.embed(texts) if texts else np.zeros((0, 1), dtype=np.float32)
    k = len(answered)
    d_vec, r_vec, b_vec = vectors[:k], vectors[k : 2 * k], vectors[2 * k : 3 * k]
    c_vec = iter(vectors[3 * k :])

    def cos(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.dot(a, b) / ((np.linalg.norm(a) * np.linalg.norm(b)) or 1.0))

    draft_cos = [cos(d_vec[i], r_vec[i]) for i in range(k)]
    random_cos = [cos(b_vec[i], r_vec[i]) for i in range(k)]
    company_cos: list[float] = []
    company_f1: list[float] = []
    draft_cos_company: list[float] = []  # the draft, on the conversations that have a same-company peer
    for i, ref in enumerate(company_refs):
        if ref is not None:
            company_cos.append(cos(next(c_vec), r_vec[i]))
            company_f1.append(token_f1(ref, refs[i]))
            draft_cos_company.append(draft_cos[i])
    draft_f1 = [token_f1(d, r) for d, r in zip(drafts, refs, strict=True)]
    random_f1 = [token_f1(b, r) for b, r in zip(random_refs, refs, strict=True)]

    def mean(values: list[float]) -> float | None:
        return round(statistics.fmean(values), 4) if values else None

    abstentions = [r for r in rows if r["abstained"]]
    checked = [r for r in abstentions if "reason_right" in r]
    reasons = {
        "abstentions": len(abstentions),
        "reasons": dict(Counter(r["reason"] for r in abstentions)),
        **({"reasons_right": sum(r["reason_right"] for r in checked),
            "reasons_right_share": round(sum(r["reason_right"] for r in checked) / len(checked), 4) if checked else None}
           if checked else {}),
    }
    return {
        **reasons,
        "conversations": n,
        "cite_rate": round(sum(1 for r in rows if r["cited"]) / n, 4) if n else 0.0,
        "abstain_rate": round(sum(1 for r in rows if r["abstained"]) / n, 4) if n else 0.0,
        "answered": k,
        "draft_cosine": mean(draft_cos),
        "random_reply_cosine": mean(random_cos),
        "same_company_reply_cosine": mean(company_cos),
        "draft_cosine_where_same_company_peer": mean(draft_cos_company),
        "draft_token_f1": mean(draft_f1),
        "random_reply_token_f1": mean(random_f1),
        "same_company_reply_token_f1": mean(company_f1),
        "same_company_pairs": len(company_cos),
        "mean_confidence": mean([r["confidence"] for r in rows]),
    }
