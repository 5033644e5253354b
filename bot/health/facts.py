"""Checkable facts in support text: quantities with units, plan names and UI paths.

The contradiction finder compares what an article says with what agents replied, and it only
compares what can be checked without understanding the prose: a number with a unit ("within **14
days**", "$49 a month", "60 requests per minute", "up to 250 labels", "15%"), the plans a sentence
names ("on Growth"), and menu paths ("Settings > Billing > Invoices"). Everything else is left
alone: a finder that guesses costs an admin's trust.

Quantities are canonical so that paraphrases agree: "two weeks" is 14 days, "48 hours" is 2 days,
"3,600 requests per hour" is 60 per minute, "fourteen" is 14, and a range ("5-10 business days",
"from $25 to $5,000") keeps both ends. Business days are their own unit (5 business days is not 5
days), and so are months (a month is not a fixed number of days).

Parsing never raises: text that is not understood yields no fact.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

#: Words read as numbers ("fourteen days", "a couple of weeks" is not a number and is skipped).
NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17,
    "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "forty-five": 45, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100,
}
#: Time units: (family, factor to the family's base unit). Days and shorter are one family (base: minutes).
TIME_UNITS = {
    "second": ("duration", 1 / 60), "sec": ("duration", 1 / 60), "minute": ("duration", 1.0), "min": ("duration", 1.0),
    "hour": ("duration", 60.0), "hr": ("duration", 60.0), "day": ("duration", 1440.0), "night": ("duration", 1440.0),
    "week": ("duration", 10080.0), "month": ("months", 1.0), "year": ("months", 12.0),
}
#: "per minute" and the like, as minutes, for rates ("3,600 requests per hour" = 60 per minute).
PER_UNITS = {"second": 1 / 60, "minute": 1.0, "min": 1.0, "hour": 60.0, "day": 1440.0, "week": 10080.0}
RATE_ABBREVIATIONS = {"rpm": ("request", 1.0), "rps": ("request", 1 / 60), "rph": ("request", 60.0)}
CURRENCIES = {"$": "usd", "€": "eur", "£": "gbp"}
CURRENCY_WORDS = {"usd": "usd", "dollar": "usd", "eur": "eur", "euro": "eur", "gbp": "gbp", "pound": "gbp"}
#: Words after a number that say what is counted but are not a unit of a policy.
NOT_UNITS = frozenset({
    "a", "an", "the", "and", "or", "of", "to", "in", "on", "at", "for", "by", "with", "from", "is", "are", "was",
    "be", "it", "that", "this", "you", "your", "we", "our", "they", "if", "as", "am", "pm", "et", "utc", "x",
    "times", "time", "more", "less", "st", "nd", "rd", "th", "percent", "per", "can", "not", "will", "may",
    "must", "should", "would", "could", "has", "have", "had", "do", "does", "did", "were", "been", "being", "example",
    "also", "only", "each", "every", "other", "then", "than", "so", "but", "all", "any", "what", "which",
})
#: Qualifiers that make a number a bound, not a value ("up to 30 days" and "30 days" agree; we keep both).
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?]\*\*))\s+(?=[A-Z*\"'(\[`])|\n+")
_NUMBER = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_WORDNUM = "|".join(sorted((re.escape(w) for w in NUMBER_WORDS), key=len, reverse=True))
_VALUE = rf"(?:{_NUMBER}|(?:{_WORDNUM})\b)"
_QUANTITY = re.compile(
    rf"(?P<cur>[$€£])?\s?(?P<a>{_VALUE})"
    rf"(?:\s*(?:-|–|—|\bto\b)\s*(?P<cur2>[$€£])?\s?(?P<b>{_VALUE}))?"
    r"(?P<pct>\s?%|\s?percent\b)?"
    r"(?P<rest>(?:\s*\*{0,2}\s*[A-Za-z][A-Za-z\-]*){0,4})",
    re.I,
)
_UPPER = re.compile(r"(?:\bup to|\bwithin|\bat most|\bmaximum(?: of)?|\bmax\.?|\bno more than|\bless than|"
                    r"\bfewer than|\bunder|\blimit(?:ed)? (?:is|of|to)|\bcapped at|\bcap of|\bupto|\bbefore|"
                    r"\bno later than|\bonly)\s*(?:the\s+|a\s+|an\s+)?(?:first\s+|last\s+|next\s+)?$", re.I)
_LOWER = re.compile(r"(?:\bat least|\bminimum(?: of)?|\bmin\.?|\bmore than|\bover|\bafter|\bfrom|\bstarting at|"
                    r"\bstarts at|\bor more)\s*$", re.I)
_PRICE_PERIOD = re.compile(r"^\s*(?:/\s*|(?:a|an|per|every|each)\s+)(month|mo|year|yr|week|day)\b", re.I)
_PERIODS = {"mo": "month", "yr": "year"}
_STEP = r"[\w⋯…&'’/.\-]+(?:[ ][\w⋯…&'’/.\-]+){0,5}"
_PATH = re.compile(rf"[A-Z⋯…]{_STEP}(?:\s*(?:>|›|→)\s*{_STEP})+")
#: Words that end the last step of a path written inside a sentence ("Settings > Team now").
_AFTER_PATH = frozenset({"now", "and", "then", "to", "or", "in", "on", "at", "for", "if", "when", "where", "with",
                         "page", "tab", "menu", "screen", "section", "click", "tap", "select", "you", "your", "it",
                         "this", "that", "is", "are", "will", "should", "from", "by", "as", "so", "but", "instead",
                         "within", "after", "before", "under", "inside", "of", "about", "until", "once", "while",
                         "since", "each", "every", "again", "first", "also", "too", "here", "there", "—", "–"})
_MARKUP = re.compile(r"\*\*|__|`")
_BOLD_SPAN = re.compile(r"\*\*([^*\n]{3,120}?)\*\*")
_SEPARATOR = re.compile(r"\s*(?:>|›|→)\s*")
#: Words that lead into a menu path without being part of it ("Go to Settings > Billing").
LEAD_IN_WORDS = frozenset({"go", "to", "open", "click", "navigate", "head", "select", "choose", "in", "under", "from",
                           "visit", "then", "and", "tap", "find", "at", "it's", "is", "via", "using", "the", "on", "check",
                           "see", "use", "try"})
_WORD = re.compile(r"[A-Za-z][A-Za-z\-]+")
_IDENTIFIER = re.compile(r"[A-Z]{2,}-\d+|#\d+|/v\d+|v\d+\.\d+|\d{1,2}:\d{2}|\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Quantity:
    """A number with a unit, canonical: ``low``..``high`` in the base unit of ``family``.

    Families: ``duration`` (minutes), ``business_days`` (days), ``months``, ``money:usd`` (and other
    currencies), ``percent``, ``rate:<thing>`` (per minute), ``count:<thing>`` (a bare count of things).
    """

    low: float
    high: float
    family: str
    text: str
    bound: str | None = None
    """``upper`` ("up to 30 days", "within 14 days", "a limit of 60"), ``lower`` ("at least $25"), or None
    (a plain value: "refunds take 5 days", "your charge is from 20 days ago")."""

    def allows(self, said: Quantity) -> bool:
        """Whether ``said`` (in a reply) agrees with this quantity (in an article).

        Same family, and: under a bound the article sets ("up to 250"), a plain value or range within
        it ("212 orders", "5-10 days" for "within 10 days") or the same bound (not "within 7 days");
        a value inside the article's range; two ranges only when they are the same; else equal values.
        """
        if self.family != said.family:
            return False
        eps = 1e-9 * max(1.0, abs(self.high), abs(said.high))
        if self.bound == "upper":  # "within 10 days": a plain value or range under it, or the same bound
            return abs(said.high - self.high) <= eps if said.bound == "upper" else said.high <= self.high + eps
        if self.bound == "lower":
            return abs(said.low - self.low) <= eps if said.bound == "lower" else said.low >= self.low - eps
        if self.low < self.high and said.low < said.high:  # two ranges: the same range
            return abs(self.low - said.low) <= eps and abs(self.high - said.high) <= eps
        return self.low - eps <= said.low and said.high <= self.high + eps  # a value inside the range (or equal)


@dataclass(frozen=True)
class UiPath:
    """A menu path as written ("Settings > Billing > Invoices"), its segments normalised for comparison."""

    segments: tuple[str, ...]
    text: str

    @property
    def key(self) -> tuple[str, ...]:
        return tuple(s.lower() for s in self.segments)

    def same_as(self, other: UiPath) -> bool:
        """The same path, allowing the last step of one to be cut short in running text ("Order status"
        for "Order status after shipping")."""
        return len(self.key) == len(other.key) and self.key[:-1] == other.key[:-1] \
            and same_step(self.key[-1], other.key[-1], last=True)


def same_step(a: str, b: str, *, last: bool = False) -> bool:
    """Two steps of a path are the same (the last may be cut short in running text)."""
    return a == b or (last and (a.startswith(b + " ") or b.startswith(a + " ")))


@dataclass(frozen=True)
class Statement:
    """One sentence (or list item, or table row) and the checkable facts in it."""

    text: str
    quantities: tuple[Quantity, ...]
    paths: tuple[UiPath, ...]
    plans: frozenset[str]
    names: frozenset[str]
    """Upper-case names in the sentence (USPS, UPS, SMS): what a quantity is about, when it says."""
    plan_mentions: frozenset[str] = frozenset()
    """Every "<Name> plan" the sentence writes, known plan or not."""


def _number(text: str) -> float | None:
    text = text.strip().lower()
    if text in NUMBER_WORDS:
        return float(NUMBER_WORDS[text])
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def _singular(word: str) -> str:
    word = word.lower().strip("*-")
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


def _unit(rest: str) -> tuple[str, float, int] | None:
    """(family, factor, words used) of the words after a number, or None when they name no unit."""
    words = [_singular(w) for w in _WORD.findall(_MARKUP.sub("", rest))]
    if not words:
        return None
    first = words[0]
    if first in ("business", "working") and len(words) > 1 and words[1] == "day":
        return "business_days", 1.0, 2
    if first == "calendar" and len(words) > 1 and words[1] in TIME_UNITS:
        family, factor = TIME_UNITS[words[1]]
        return family, factor, 2
    if first in TIME_UNITS:
        family, factor = TIME_UNITS[first]
        return family, factor, 1
    if first in RATE_ABBREVIATIONS:
        thing, per = RATE_ABBREVIATIONS[first]
        return f"rate:{thing}", 1 / per, 1
    if first in CURRENCY_WORDS:
        return f"money:{CURRENCY_WORDS[first]}", 1.0, 1
    if first in NOT_UNITS or len(first) < 2:
        return None
    # "60 requests per minute", "500 emails a day", "100 labels per request" (a count per something else).
    for i in (1, 2):
        if len(words) > i + 1 and words[i] in ("per", "a", "an", "every", "each") and words[i + 1] in PER_UNITS:
            thing = " ".join(words[:i])
            return f"rate:{thing}", 1 / PER_UNITS[words[i + 1]], i + 2
    return f"count:{first}", 1.0, 1


def quantities(sentence: str) -> list[Quantity]:
    """The quantities of one sentence (see the module docstring)."""
    clean = _IDENTIFIER.sub(" ", _MARKUP.sub("", sentence))  # error codes, ticket numbers, versions, clock times
    out: list[Quantity] = []
    for m in _QUANTITY.finditer(clean):
        start = m.start("a")
        if start > 0 and (clean[start - 1].isalnum() or clean[start - 1] in "-_/."):
            continue  # part of a word or an identifier ("PCL4031", "v2", "4.5.1")
        after = m.end("b") if m.group("b") else m.end("a")
        if after < len(clean) and (clean[after].isalpha() or clean[after] in "_/") and not m.group("pct"):
            continue  # "2FA", "4x6", "10MB": a name or a size, not a policy
        a = _number(m.group("a"))
        b = _number(m.group("b")) if m.group("b") else None
        if a is None:
            continue
        low, high = (a, b) if b is not None and b >= a else (a, a)
        currency = m.group("cur") or m.group("cur2")
        number_end = m.end("pct") if m.group("pct") else m.end("b") if m.group("b") else m.end("a")
        text = clean[m.start():number_end].strip()
        if currency:
            family, factor = f"money:{CURRENCIES[currency]}", 1.0
            period = _PRICE_PERIOD.match(clean[m.end("b") if m.group("b") else m.end("a"):])
            if period:  # "$49 a month" and "$490 a year" are different prices
                family += "/" + _PERIODS.get(period.group(1).lower(), period.group(1).lower())
        elif m.group("pct"):
            family, factor = "percent", 1.0
        else:
            unit = _unit(m.group("rest") or "")
            if unit is None:
                continue
            family, factor, used = unit
            if family.startswith("count:") and m.group("a").strip().lower() in NUMBER_WORDS and a < 10:
                continue  # "one label", "two keys": counted prose, not a limit
            unit_words = _WORD.findall(m.group("rest"))
            if len(unit_words) > used and unit_words[used].lower() == "ago":
                continue  # "20 days ago", "a label 40 days old": what happened in this case, not a policy
            text = f"{text} {' '.join(unit_words[:used])}"
        before = clean[max(0, m.start() - 40):m.start()]
        bound = "upper" if _UPPER.search(before) else "lower" if _LOWER.search(before) and b is None else None
        out.append(Quantity(low=low * factor, high=high * factor, family=family, text=text, bound=bound))
    return out


def _first_step(text: str) -> str:
    """The first step of a path written inside a sentence: its last run of capitalised words, without the
    words that lead into it ("Check your address under Plan & usage" -> "Plan & usage", "Go to Settings"
    -> "Settings", "Account Settings" stays)."""
    words = text.split()
    start = 0
    for i in range(1, len(words)):
        if words[i][:1].isupper() and not words[i - 1][:1].isupper() and words[i - 1] not in ("&", "and", "of"):
            start = i
    words = words[start:]
    while len(words) > 1 and words[0].lower().strip(",") in LEAD_IN_WORDS:
        words = words[1:]
    return " ".join(words)


def ui_paths(sentence: str) -> list[UiPath]:
    """Menu paths of at least two steps ("Settings > Billing", "Shipments › ⋯ › Void label").

    A path in bold (``**Settings > Billing**``) is taken as written; elsewhere the words that lead
    into it ("Go to", "open", "click") are not part of its first step.
    """
    out: list[UiPath] = []
    bold = [m.group(1) for m in _BOLD_SPAN.finditer(sentence)]
    rest = _BOLD_SPAN.sub(" . ", sentence)
    written = [(c, True) for c in bold] + [(m.group(0), False) for m in _PATH.finditer(_MARKUP.sub("", rest))]
    for candidate, exact in written:
        if not _SEPARATOR.search(candidate):
            continue
        segments = [" ".join(s.split()) for s in _SEPARATOR.split(candidate) if s.strip()]
        if len(segments) < 2:
            continue
        segments[0] = _first_step(segments[0])
        if not exact:  # in running text, the sentence goes on after the last step: cut it there
            last = segments[-1].split()
            for i, w in enumerate(last):
                if i and w.lower().strip(".,;:!?") in _AFTER_PATH:
                    last = last[:i]
                    break
            segments[-1] = " ".join(last).rstrip(".,;:")
        if all(0 < len(s) <= 40 and (s[0].isupper() or s[0] in "⋯…") for s in segments):
            out.append(UiPath(segments=tuple(segments), text=" > ".join(segments)))
    return out


def split_statements(text: str) -> list[str]:
    """Sentences, list items and table rows of Markdown text (headings and blank lines dropped)."""
    out: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or set(line) <= set("|-: "):
            continue
        line = re.sub(r"^(?:[-*+]|\d+[.)])\s+", "", line)  # list markers
        if line.startswith("|"):
            out.append(" ".join(cell.strip() for cell in line.strip("|").split("|")))
            continue
        out.extend(s.strip() for s in _SENTENCE_END.split(line) if s.strip())
    return out


_PLAN_MENTION = re.compile(r"\b([A-Z][a-z]+)\s+(?:plan|plans|tier)\b")
_NOT_PLAN_NAMES = frozenset({"the", "your", "our", "a", "any", "this", "that", "each", "every", "paid", "free", "new",
                             "old", "current", "annual", "monthly", "yearly", "cheaper", "higher", "lower", "which",
                             "what", "same", "one", "another", "other", "their", "my", "his", "her", "no", "whole",
                             "upgrade", "downgrade", "change", "cancel", "choose", "pick", "select", "trial", "next",
                             "previous", "its", "on", "in", "of", "for", "per"})


def plan_mentions(text: str) -> frozenset[str]:
    """The names written before "plan" / "tier" in ``text`` ("on the Growth plan" -> Growth)."""
    return frozenset(m.group(1) for m in _PLAN_MENTION.finditer(_MARKUP.sub("", text))
                     if m.group(1).lower() not in _NOT_PLAN_NAMES)


_PLAN_LIST = re.compile(r"\bplans?\b[^.\n]{0,30}?(?:—|–|:|\bare\b|\binclude\b)\s*"
                        r"((?:[A-Z][a-z]+,\s*)*[A-Z][a-z]+,?\s+(?:and|or)\s+[A-Z][a-z]+)")


def plan_names(texts: Iterable[str]) -> frozenset[str]:
    """The plan names a help center uses: capitalised words written before "plan" ("the Growth plan"),
    and the names a sentence lists as its plans ("three plans — Starter, Growth and Pro")."""
    found: set[str] = set()
    for text in texts:
        found |= plan_mentions(text)
        for m in _PLAN_LIST.finditer(_MARKUP.sub("", text)):
            found |= set(re.findall(r"[A-Z][a-z]+", m.group(1)))
    return frozenset(found)


def statements(text: str, *, plans: frozenset[str] = frozenset()) -> list[Statement]:
    """Every statement of ``text`` that holds a quantity, a UI path or a plan mention."""
    out: list[Statement] = []
    for sentence in split_statements(text):
        qs, ps, mentioned = quantities(sentence), ui_paths(sentence), plan_mentions(sentence)
        if not qs and not ps and not mentioned:
            continue
        words = set(re.findall(r"\b[A-Za-z]+\b", _MARKUP.sub("", sentence)))
        names = frozenset(w for w in words if w.isupper() and 2 <= len(w) <= 6 and w not in {"API", "ID", "PDF", "OK"})
        out.append(Statement(text=sentence, quantities=tuple(qs), paths=tuple(ps), plans=frozenset(words & plans),
                             names=names, plan_mentions=mentioned))
    return out
