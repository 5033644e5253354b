"""``finetune export``: past conversations into a chat-format training set.

Sources:

* tickets synced into the store (the ``kb_internal`` ticket documents, ``## Customer`` /
  ``## Agent reply`` sections; ``## Internal note`` sections are skipped), rebuilt from their
  chunks (:func:`tickets_from_store`);
* a JSONL of conversations, one ``{"id", "turns": [{"role", "text"}]}`` per line
  (:func:`conversations_from_jsonl`).

Every agent turn that answers a customer turn becomes a pair. Consecutive turns of one side are
joined (a reply tweeted in two parts is one reply). Then, in order: PII is masked
(:class:`~bot.index.pii.PiiMasker`, both sides); replies that are too long, trivial ("thanks!",
nothing left once the pleasantries are gone) or duplicates of an earlier reply are dropped, and
so is a pair whose neutral draft and reply would not pass the run-time guard (a fact in one and
not the other). The split is by conversation (a hash of its id), so no conversation feeds both
sides.

Output: ``train.jsonl`` and ``validation.jsonl``, one ``{"messages": [system, user, assistant]}``
per line, the format of OpenAI's (and most OpenAI-compatible) fine-tuning APIs and of local
trainers; ``manifest.json`` with the counts. Two tasks:

* ``rewrite`` (default): user = the neutral draft of the reply, assistant = the reply (what the
  style adapter does at run time: :data:`bot.finetune.REWRITE_INSTRUCTION`);
* ``reply``: user = the customer's message, assistant = the reply.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from bot.answer.style import KEPT_RESTYLED, UNCHANGED, guard_restyle
from bot.finetune import REWRITE_INSTRUCTION, DatasetError
from bot.finetune.neutral import clean_reply, neutral_draft
from bot.index.pii import PiiMasker

Task = Literal["rewrite", "reply"]

REPLY_INSTRUCTION = "You are a member of our support team. Reply to the customer's message in the team's voice."
TRAIN_FILE = "train.jsonl"
VALIDATION_FILE = "validation.jsonl"
MANIFEST_FILE = "manifest.json"

#: Section headings of ticket documents (connectors write them) and the role each one is.
SECTION_ROLES = {"customer": "customer", "agent reply": "agent", "internal note": "internal"}
#: Replies with fewer words than this (after cleaning) teach nothing about the team's voice.
MIN_REPLY_WORDS = 3
#: Longer replies do not fit a small model's training window (and are rarely "voice").
MAX_REPLY_CHARS = 1500
#: Shortest overlap taken as the repeated text of two consecutive chunks of one long section.
_MIN_OVERLAP = 20


@dataclass(frozen=True)
class Turn:
    role: str  # customer | agent | internal
    text: str


@dataclass(frozen=True)
class Conversation:
    id: str
    turns: tuple[Turn, ...]


@dataclass(frozen=True)
class Pair:
    conversation_id: str
    customer: str
    reply: str
    draft: str


@dataclass
class ExportReport:
    """What an export read, kept and dropped (and why)."""

    conversations: int = 0
    agent_turns: int = 0
    pairs: int = 0
    train: int = 0
    validation: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    internal_notes_excluded: int = 0
    pii_masked: dict[str, int] = field(default_factory=dict)
    task: str = "rewrite"
    files: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["dropped"] = dict(self.dropped)
        return out

    def summary(self) -> str:
        dropped = ", ".join(f"{n} {why}" for why, n in sorted(self.dropped.items())) or "none"
        pii = ", ".join(f"{n} {k}" for k, n in sorted(self.pii_masked.items())) or "none"
        return (f"{self.conversations} conversations, {self.agent_turns} agent replies -> {self.pairs} pairs "
                f"({self.train} train, {self.validation} validation); dropped: {dropped}; "
                f"internal notes excluded: {self.internal_notes_excluded}; PII masked: {pii}")


# --- reading -------------------------------------------------------------------------------
def conversations_from_jsonl(path: Path) -> Iterator[Conversation]:
    """Conversations from a JSONL file of ``{"id", "turns": [{"role", "text"}]}`` objects.

    Roles other than customer/user and agent/assistant are kept as they are (and never exported).

    Raises:
        DatasetError: the file is missing, or a line is not such an object.
    """
    if not path.is_file():
        raise DatasetError(f"no such file: {path}")
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                turns = tuple(
                    Turn(role=_role(str(t["role"])), text=str(t.get("text") or ""))
                    for t in obj["turns"]
                )
                conv_id = str(obj.get("id") or f"{path.name}:{lineno}")
            except (ValueError, KeyError, TypeError) as exc:
                raise DatasetError(f"{path}:{lineno}: not a conversation object with 'turns' [{{role, text}}]") from exc
            yield Conversation(conv_id, turns)


def _role(role: str) -> str:
    role = role.strip().lower()
    return {"user": "customer", "assistant": "agent", "end-user": "customer", "end_user": "customer"}.get(role, role)


def turns_from_ticket_text(text: str) -> tuple[Turn, ...]:
    """The turns of a ticket document's Markdown (``## Customer`` / ``## Agent reply`` / ``## Internal note``)."""
    turns: list[Turn] = []
    role: str | None = None
    buf: list[str] = []

    def flush() -> None:
        if role is not None and "\n".join(buf).strip():
            turns.append(Turn(role, "\n".join(buf).strip()))

    for line in text.splitlines():
        m = re.match(r"^##\s+(.+?)\s*$", line)
        if m and m.group(1).strip().lower() in SECTION_ROLES:
            flush()
            role, buf = SECTION_ROLES[m.group(1).strip().lower()], []
        elif role is not None:
            buf.append(line)
    flush()
    return tuple(turns)


def tickets_from_store(store: Any, collection: str) -> Iterator[Conversation]:
    """Ticket conversations rebuilt from their chunks in ``collection`` (chunk order, overlaps removed).

    A chunk's ``section`` says whose text it is; sections packed into one chunk keep their own
    ``## heading`` inline; one long section split into several chunks repeats some text at each
    cut, which is removed.
    """
    rows = store.scroll_payloads(collection, filter={"kind": "ticket"},
                                 fields=("doc_id", "chunk_no", "section", "text"))
    by_doc: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_doc.setdefault(str(row.get("doc_id")), []).append(row)
    for doc_id in sorted(by_doc):
        segments: list[tuple[str, str]] = []  # (section, text)
        for row in sorted(by_doc[doc_id], key=lambda r: int(r.get("chunk_no") or 0)):
            section = str(row.get("section") or "")
            parts = re.split(r"(?m)^## (.+)\n", str(row.get("text") or ""))
            pieces = [(section, parts[0])] + [(parts[i], parts[i + 1]) for i in range(1, len(parts) - 1, 2)]
            for sec, body in pieces:
                sec = sec.split(" › ")[0].strip()
                body = body.strip()
                if not body:
                    continue
                if segments and segments[-1][0] == sec:
                    segments[-1] = (sec, _join_overlapping(segments[-1][1], body))
                else:
                    segments.append((sec, body))
        turns = tuple(Turn(SECTION_ROLES.get(sec.lower(), "other"), body) for sec, body in segments)
        yield Conversation(doc_id, turns)


def _join_overlapping(a: str, b: str) -> str:
    """``a`` then ``b`` without the text the chunker repeated at the cut."""
    for k in range(min(len(a), len(b)), _MIN_OVERLAP - 1, -1):
        if a.endswith(b[:k]):
            return a + b[k:]
    return f"{a}\n\n{b}"


# --- pairs ---------------------------------------------------------------------------------
def _normalise(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


def build_pairs(
    conversations: Iterable[Conversation],
    *,
    masker: PiiMasker | None = None,
    report: ExportReport | None = None,
    min_reply_words: int = MIN_REPLY_WORDS,
    max_reply_chars: int = MAX_REPLY_CHARS,
) -> list[Pair]:
    """Customer message -> agent reply pairs, masked, filtered and de-duplicated (see the module docstring)."""
    masker = masker or PiiMasker()
    report = report if report is not None else ExportReport()
    pii_before = Counter(masker.counts)
    seen: set[str] = set()
    pairs: list[Pair] = []
    for conv in conversations:
        report.conversations += 1
        # Merge runs of one side; internal notes are skipped entirely (never exported).
        merged: list[Turn] = []
        for turn in conv.turns:
            if turn.role == "internal":
                report.internal_notes_excluded += 1
                continue
            if turn.role not in ("customer", "agent") or not turn.text.strip():
                continue
            if merged and merged[-1].role == turn.role:
                merged[-1] = Turn(turn.role, f"{merged[-1].text}\n\n{turn.text.strip()}")
            else:
                merged.append(Turn(turn.role, turn.text.strip()))
        for i, turn in enumerate(merged):
            if turn.role != "agent":
                continue
            report.agent_turns += 1
            if i == 0:
                report.dropped["no customer message before it"] += 1
                continue
            customer = masker.mask(clean_reply(merged[i - 1].text))
            reply = clean_reply(masker.mask(turn.text))
            if len(reply) > max_reply_chars:
                report.dropped["too long"] += 1
                continue
            draft = neutral_draft(reply)
            if len(reply.split()) < min_reply_words or not draft or len(draft.split()) < 2:
                report.dropped["trivial"] += 1
                continue
            key = _normalise(reply)
            if key in seen:
                report.dropped["duplicate"] += 1
                continue
            seen.add(key)
            _, reason = guard_restyle(draft, reply)
            if reason not in (KEPT_RESTYLED, UNCHANGED):
                # The reply carries a fact the draft lost (or the reverse): it would teach inventing facts.
                report.dropped["facts differ from the draft"] += 1
                continue
            pairs.append(Pair(conv.id, customer, reply, draft))
    report.pairs += len(pairs)
    report.pii_masked = {k: v - pii_before.get(k, 0) for k, v in masker.counts.items() if v - pii_before.get(k, 0)}
    return pairs


def is_validation(conversation_id: str, fraction: float, seed: int = 0) -> bool:
    """Deterministic split by conversation: the same id always lands on the same side."""
    digest = hashlib.sha256(f"{seed}:{conversation_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def to_messages(pair: Pair, task: Task = "rewrite") -> dict[str, list[dict[str, str]]]:
    """One chat-format training example."""
    if task == "rewrite":
        system, user = REWRITE_INSTRUCTION, pair.draft
    else:
        system, user = REPLY_INSTRUCTION, pair.customer
    return {"messages": [
        {"role": "system", "content": system},
        {"role": "user", "content": user},
        {"role": "assistant", "content": pair.reply},
    ]}


def export(
    conversations: Iterable[Conversation],
    out_dir: Path,
    *,
    task: Task = "rewrite",
    validation_fraction: float = 0.1,
    seed: int = 0,
    masker: PiiMasker | None = None,
    min_reply_words: int = MIN_REPLY_WORDS,
    max_reply_chars: int = MAX_REPLY_CHARS,
    source: str = "",
) -> ExportReport:
    """Build the pairs and write ``train.jsonl``, ``validation.jsonl`` and ``manifest.json`` to ``out_dir``.

    Raises:
        DatasetError: no usable pair was found.
    """
    if not 0 <= validation_fraction < 1:
        raise DatasetError("the validation fraction must be at least 0 and below 1")
    report = ExportReport(task=task)
    pairs = build_pairs(conversations, masker=masker, report=report,
                        min_reply_words=min_reply_words, max_reply_chars=max_reply_chars)
    if not pairs:
        raise DatasetError(f"no usable reply pairs ({report.summary()})")
    out_dir.mkdir(parents=True, exist_ok=True)
    train_path, val_path = out_dir / TRAIN_FILE, out_dir / VALIDATION_FILE
    with train_path.open("w", encoding="utf-8") as train, val_path.open("w", encoding="utf-8") as val:
        for pair in pairs:
            line = json.dumps(to_messages(pair, task), ensure_ascii=False) + "\n"
            if is_validation(pair.conversation_id, validation_fraction, seed):
                val.write(line)
                report.validation += 1
            else:
                train.write(line)
                report.train += 1
    report.files = {"train": str(train_path), "validation": str(val_path)}
    manifest = {**report.as_dict(), "source": source, "validation_fraction": validation_fraction, "seed": seed,
                "min_reply_words": min_reply_words, "max_reply_chars": max_reply_chars,
                "instruction": REWRITE_INSTRUCTION if task == "rewrite" else REPLY_INSTRUCTION}
    (out_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return report


def read_chat_jsonl(path: Path) -> list[list[dict[str, str]]]:
    """The ``messages`` lists of a chat-format JSONL file (validated: roles and string contents).

    Raises:
        DatasetError: the file is missing or a line is not a chat example ending with the assistant.
    """
    if not path.is_file():
        raise DatasetError(f"no such training file: {path} (run `helpdesk-bot finetune export` first)")
    out = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                messages = json.loads(line)["messages"]
                ok = (isinstance(messages, list) and len(messages) >= 2
                      and all(isinstance(m.get("content"), str) and m.get("role") in ("system", "user", "assistant")
                              for m in messages)
                      and messages[-1]["role"] == "assistant")
            except (ValueError, KeyError, TypeError, AttributeError):
                ok = False
            if not ok:
                raise DatasetError(f"{path}:{lineno}: not a chat example ({{\"messages\": [..., assistant]}})")
            out.append(messages)
    return out
