"""Planted contradictions (and paraphrases that agree) in a copy of a knowledge base: a seeded generator.

Used by ``benchmarks/knowledge_health.py``. It reads the Markdown articles of a folder, finds facts
in them with its *own* small patterns (a number with one of a few units, a bold menu path; not the
finder's parser), and writes new solved tickets whose agent reply restates one fact:

=================  ===========================================================================  =========
case               what is planted                                                              conflicts
=================  ===========================================================================  =========
reply_changed      the reply states the fact with another value (a changed refund window,      yes
                   price, limit, percentage)
article_changed    the reply states the fact as the article had it; the article's copy is then  yes
                   changed to another value
path_renamed       the reply names the article's menu path with one step renamed                yes
paraphrase         the reply states the same fact reworded: number in words, days as weeks,     no
                   hours as days, "within" as "inside", another opener
customer_wrong     the customer's message states a wrong value; the agent's reply the right one no
path_same          the reply names the same menu path, reworded around it                       no
=================  ===========================================================================  =========

Every reply is wrapped in varied greetings, openers, case details (an order from N days ago, a
label count) and sign-offs, and reworded with random synonyms, so that nothing is verbatim and no
template carries the answer. Which facts, which cases, which values and which words are drawn
from ``random.Random(seed)``: the same seed plants the same knowledge base.
"""

from __future__ import annotations

import random
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

CONFLICTING = ("reply_changed", "article_changed", "path_renamed")
AGREEING = ("paraphrase", "customer_wrong", "path_same")
UNITS = ("business days", "days", "hours", "minutes", "weeks", "months", "requests per minute", "labels", "seats",
         "characters", "orders", "team members", "API keys", "stores")
_NUM = r"\d{1,3}(?:,\d{3})*(?:\.\d+)?"
_FACT = re.compile(
    rf"(?P<pre>\*\*)?(?P<cur>\$)?(?P<a>{_NUM})(?:(?P<dash>\s?[–-]\s?)(?P<b>{_NUM}))?(?P<post>\*\*)?"
    rf"(?P<pct>%)?(?:\s(?P<unit>{'|'.join(re.escape(u) for u in UNITS)})\b)?(?P<post2>\*\*)?"
)
_BOLD_PATH = re.compile(r"\*\*([A-Z][^*\n]{1,60}?(?:\s>\s[^*\n]{1,40}?)+)\*\*")
NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine",
                10: "ten", 12: "twelve", 14: "fourteen", 15: "fifteen", 20: "twenty", 30: "thirty", 60: "sixty",
                90: "ninety"}
MENU_NAMES = ("Account", "Preferences", "Payments", "Workspace", "Admin", "Organization", "Statements", "Documents",
              "Connections", "Team settings", "Shipping", "Reports", "Security", "Notifications", "Tools",
              "Billing center", "Plan & usage", "Receipts", "Members", "Apps")
NAMES = ("Maya", "Daniel", "Priya", "Sam", "Grace", "Ravi", "Lena", "Omar", "Chloe", "Tomás", "Aiko", "Jonas")
AGENTS = ("Priya", "Amir", "Jess", "Marco", "Elif", "Noah")
GREETINGS = ("Hi {name},", "Hello {name},", "Hey {name},", "Hi there {name},")
OPENERS = ("Thanks for reaching out!", "Thanks for the details.", "Good question.", "Sorry for the confusion here.",
           "Happy to help with this.", "Thanks for your patience while I checked.", "")
LEADS = ("", "", "Just to confirm: ", "To answer your question: ", "Here's how it works: ", "Short version: ",
         "For reference: ")
CASE_DETAILS = ("I can see your order from {n} days ago on the account.", "I checked the {k} labels in your last batch.",
                "Your ticket from {n} days ago is linked here too.", "I looked at order #{order} as well.",
                "", "", "")
CLOSERS = ("Let me know if anything else comes up!", "Hope that helps.", "Anything else, just reply here.",
           "Have a great day!", "")
SYNONYMS = (("You can ", ("You're able to ", "You can ")), ("you can ", ("you're able to ", "you can ")),
            (" can't ", (" cannot ", " can't ")), ("Go to ", ("Head to ", "Open ", "Go to ")),
            (" click ", (" select ", " click ", " hit ")), ("Click ", ("Select ", "Click ", "Hit ")),
            (" get ", (" receive ", " get ")), (" usually ", (" typically ", " normally ")),
            (" automatically", (" on its own", " automatically")), (" isn't ", (" is not ",)),
            (" don't ", (" do not ",)), (" doesn't ", (" does not ",)))


@dataclass(frozen=True)
class Fact:
    """One plantable fact: its article, the sentence, and the value or path in it."""

    path: Path
    doc_id: str
    sentence: str
    kind: str  # "quantity" or "path"
    match: str  # the text of the value or path as written in the sentence (bold included)
    value: tuple[float, ...] = ()
    unit: str = ""
    currency: bool = False
    percent: bool = False


@dataclass
class Case:
    """One planted ticket (and, for ``article_changed``, the article change)."""

    case: str
    ticket_doc_id: str
    article_doc_id: str
    article_sentence: str
    planted_value: str  # what conflicts (the reply's value, or the article's new value) or the agreeing value
    original_value: str
    reply: str

    @property
    def conflicts(self) -> bool:
        return self.case in CONFLICTING


@dataclass
class Planted:
    root: Path
    cases: list[Case] = field(default_factory=list)
    changed_articles: dict[str, str] = field(default_factory=dict)  # doc id -> the new value


def _split_front_matter(text: str) -> tuple[str, str]:
    if text.startswith("---\n"):
        end = text.index("\n---\n", 4) + 5
        return text[:end], text[end:]
    return "", text


def _sentences(body: str) -> list[str]:
    out = []
    for line in body.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "|", ">")):
            continue
        line = re.sub(r"^(?:[-*+]|\d+\.)\s+", "", line)
        out.extend(s.strip() for s in re.split(r"(?<=[.!?])\s+(?=[A-Z*])", line) if s.strip())
    return [s for s in out if 6 <= len(s.split()) <= 60]


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _fmt(value: float) -> str:
    return f"{int(value):,}" if value == int(value) else f"{value:.2f}"


def find_facts(folder: Path, source: str) -> list[Fact]:
    """Plantable facts of the public Markdown articles in ``folder`` (doc ids as the files connector makes them)."""
    facts: list[Fact] = []
    for path in sorted(folder.glob("*.md")):
        front, body = _split_front_matter(path.read_text(encoding="utf-8"))
        if "audience: internal" in front:
            continue
        doc_id = f"{source}:file:{path.name}"
        for sentence in _sentences(body):
            for m in _FACT.finditer(sentence):
                if not (m.group("unit") or m.group("cur") or m.group("pct")):
                    continue
                if m.start() > 0 and (sentence[m.start() - 1].isalnum() or sentence[m.start() - 1] in "-#/"):
                    continue
                values = (_number(m.group("a")),) + ((_number(m.group("b")),) if m.group("b") else ())
                facts.append(Fact(path=path, doc_id=doc_id, sentence=sentence, kind="quantity", match=m.group(0),
                                  value=values, unit=m.group("unit") or "", currency=bool(m.group("cur")),
                                  percent=bool(m.group("pct"))))
            for m in _BOLD_PATH.finditer(sentence):
                facts.append(Fact(path=path, doc_id=doc_id, sentence=sentence, kind="path", match=m.group(0)))
    return facts


def _render(fact: Fact, values: tuple[float, ...], *, words: bool = False, rng: random.Random | None = None) -> str:
    """The fact's value text with ``values``; ``words``: a paraphrase (numbers in words, days as weeks ...)."""
    unit = fact.unit
    vals = list(values)
    if words and rng is not None and len(vals) == 1 and not fact.currency and not fact.percent:
        v = vals[0]
        if unit == "days" and v % 7 == 0 and v >= 7:
            return f"{NUMBER_WORDS.get(int(v // 7), _fmt(v // 7))} week{'s' if v > 7 else ''}"
        if unit == "hours" and v % 24 == 0 and v >= 24:
            return f"{NUMBER_WORDS.get(int(v // 24), _fmt(v // 24))} day{'s' if v > 24 else ''}"
        if int(v) in NUMBER_WORDS and v == int(v) and rng.random() < 0.7:
            return f"{NUMBER_WORDS[int(v)]} {unit}".strip()
    text = "–".join(("$" if fact.currency else "") + _fmt(v) for v in vals)
    if fact.percent:
        text += "%"
    return f"{text} {unit}".strip()


def _changed(fact: Fact, rng: random.Random, forbidden: set[str]) -> tuple[float, ...] | None:
    """Another value for the fact: doubled, halved, shifted or a nearby round number; never one the article states."""
    for _ in range(20):
        how = rng.choice(("double", "half", "shift", "shift"))
        out = []
        for v in fact.value:
            if how == "double":
                n = v * 2
            elif how == "half" and v >= 4:
                n = float(int(v // 2))
            else:
                n = v + rng.choice((1, 2, 3, 5, 7, 10, 15)) * (1 if rng.random() < 0.7 or v < 20 else -1)
            if fact.percent:
                n = min(n, 99.0)
            out.append(round(n, 2))
        new = tuple(out)
        if new != fact.value and all(x > 0 for x in new) and _render(fact, new) not in forbidden:
            return new
    return None


def _reword(sentence: str, rng: random.Random, keep: str) -> str:
    """Light rewording around ``keep`` (the value or path, never touched): synonyms and a lead-in."""
    head, _, tail = sentence.partition(keep)
    for old, choices in SYNONYMS:
        if rng.random() < 0.6:
            head, tail = head.replace(old, rng.choice(choices)), tail.replace(old, rng.choice(choices))
    text = (head + keep + tail).replace("**", "")
    return rng.choice(LEADS) + text


def _ticket(rng: random.Random, *, number: int, title: str, customer: str, reply: str, updated: datetime) -> str:
    name, agent = rng.choice(NAMES), rng.choice(AGENTS)
    detail = rng.choice(CASE_DETAILS).format(n=rng.randint(2, 40), k=rng.randint(2, 60), order=rng.randint(1000, 99999))
    parts = [rng.choice(GREETINGS).format(name=name), rng.choice(OPENERS), reply, detail, rng.choice(CLOSERS),
             f"{agent} — Parcelly Support"]
    body = "\n\n".join(p for p in parts if p)
    return (f"---\ntitle: \"{title}\"\nurl: https://parcelly.example.zendesk.com/agent/tickets/{number}\n"
            f"audience: internal\nkind: ticket\nstatus: solved\nupdated_at: {updated:%Y-%m-%d}\n---\n"
            f"## Customer\n{customer}\n\n## Agent reply\n{body}\n")


def _unit_key(fact: Fact) -> str:
    if fact.kind == "path":
        return "path"
    return "$" if fact.currency else "%" if fact.percent else fact.unit.replace("business ", "").rstrip("s")


def _title_of(path: Path) -> str:
    m = re.search(r"^title:\s*\"?(.+?)\"?\s*$", path.read_text(encoding="utf-8"), re.M)
    return m.group(1) if m else path.stem.replace("-", " ")


def plant(kb: Path, out: Path, *, seed: int, conflicting: int, agreeing: int, now: datetime,
          articles_source: str = "articles", tickets_source: str = "tickets") -> Planted:
    """Copy ``kb`` (``articles/`` and ``tickets/``) to ``out`` and plant ``conflicting`` + ``agreeing`` cases."""
    rng = random.Random(seed)
    shutil.copytree(kb / "articles", out / "articles")
    shutil.copytree(kb / "tickets", out / "tickets")
    facts = find_facts(out / "articles", articles_source)
    all_paths = {m.group(1).lower() for f in (out / "articles").glob("*.md")
                 for m in _BOLD_PATH.finditer(f.read_text(encoding="utf-8"))}
    planted = Planted(root=out)
    changed_sentences: set[tuple[str, str]] = set()
    used: set[tuple[str, str]] = set()
    changed_units: set[tuple[str, str]] = set()
    plan = [rng.choice(CONFLICTING) for _ in range(conflicting)] + [rng.choice(AGREEING) for _ in range(agreeing)]
    rng.shuffle(plan)
    number = 90000
    for case in plan:
        suitable = [f for f in facts if (f.kind == "path") == case.startswith("path")]
        for _ in range(200):  # draw a fact that suits the case
            fact = rng.choice(suitable)
            unit = (fact.doc_id, _unit_key(fact))
            if (fact.doc_id, fact.sentence) in changed_sentences or unit in changed_units \
                    or (case == "article_changed" and unit in used):
                continue  # an article change shares its article and unit with no other plant: they would blur
            made = _plant_one(case, fact, rng, all_paths)
            if made is not None:
                break
        else:
            continue
        reply, planted_value, original, customer_note, new_article_sentence = made
        number += 1
        title = _title_of(fact.path)
        ask = rng.choice(("Quick question about {t}.", "Can you help me with {t}?", "I'm confused about {t}.",
                          "We need some help: {t}."))
        customer = ask.format(t=title.lower()) + (" " + customer_note if customer_note else "")
        updated = now - timedelta(days=rng.randint(1, 60))
        ticket_path = out / "tickets" / f"planted-{number}.md"
        ticket_path.write_text(_ticket(rng, number=number, title=f"{title}: question", customer=customer,
                                       reply=reply, updated=updated), encoding="utf-8")
        if new_article_sentence is not None:
            text = fact.path.read_text(encoding="utf-8")
            fact_path = fact.path
            fact_path.write_text(text.replace(fact.sentence, new_article_sentence, 1), encoding="utf-8")
            planted.changed_articles[fact.doc_id] = planted_value
            changed_sentences.add((fact.doc_id, new_article_sentence))
        changed_sentences.add((fact.doc_id, fact.sentence))
        used.add((fact.doc_id, _unit_key(fact)))
        if case == "article_changed":
            changed_units.add((fact.doc_id, _unit_key(fact)))
        planted.cases.append(Case(case=case, ticket_doc_id=f"{tickets_source}:file:{ticket_path.name}",
                                  article_doc_id=fact.doc_id, article_sentence=fact.sentence,
                                  planted_value=planted_value, original_value=original, reply=reply))
    return planted


def _plant_one(case: str, fact: Fact, rng: random.Random,
               all_paths: set[str]) -> tuple[str, str, str, str, str | None] | None:
    """(reply sentence, planted value, original value, customer's note, the article's new sentence or None)."""
    article_text = fact.path.read_text(encoding="utf-8")
    if fact.kind == "path":
        path = fact.match.strip("*")
        if case == "path_same":
            return _reword(fact.sentence, rng, fact.match), path, path, "", None
        steps = [s.strip() for s in path.split(">")]
        i = rng.randrange(len(steps))
        options = [m for m in MENU_NAMES if m.lower() != steps[i].lower()
                   and " > ".join(steps[:i] + [m] + steps[i + 1:]).lower() not in all_paths]
        if not options:
            return None
        renamed = " > ".join(steps[:i] + [rng.choice(options)] + steps[i + 1:])
        return _reword(fact.sentence.replace(fact.match, f"**{renamed}**"), rng, f"**{renamed}**"), renamed, path, "", None
    original = _render(fact, fact.value)
    if re.search(rf"\bto\s+\**{re.escape(fact.match)}", fact.sentence) or \
            len(re.findall(rf"(?<![\d,.]){re.escape(_fmt(fact.value[0]))}(?![\d,])", article_text)) > 1:
        return None  # part of a range the pattern does not see, or a value the article states twice: ambiguous
    forbidden = {_render(fact, tuple(float(x.replace(",", "")) for x in re.findall(_NUM, m.group(0))[:2]))
                 for m in _FACT.finditer(article_text)}
    if case == "paraphrase":
        said = _render(fact, fact.value, words=True, rng=rng)
        return _reword(fact.sentence.replace(fact.match, said, 1), rng, said), said, original, "", None
    new = _changed(fact, rng, forbidden)
    if new is None:
        return None
    changed = _render(fact, new)
    if case == "customer_wrong":
        note = rng.choice(("A colleague told me it's {v}, is that right?", "I thought it was {v}?",
                           "Your chat bot said {v} earlier."))
        return _reword(fact.sentence, rng, fact.match), original, original, note.format(v=changed), None
    bold = fact.match.startswith("**") or fact.match.endswith("**")
    new_match = f"**{changed}**" if bold else changed
    if case == "reply_changed":
        return _reword(fact.sentence.replace(fact.match, new_match, 1), rng, new_match), changed, original, "", None
    # article_changed: the reply keeps the old value, the article gets the new one
    return (_reword(fact.sentence, rng, fact.match), changed, original, "",
            fact.sentence.replace(fact.match, new_match, 1))
