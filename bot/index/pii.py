"""Mask personal data before anything is chunked, embedded or stored.

Emails, phone numbers, payment-card numbers (Luhn-checked) and IBANs (mod-97-checked) are
replaced by typed placeholders (numbers inside links are left alone: archive timestamps and path
ids are not phone numbers) (``[email]``, ``[phone]``, ``[card]``, ``[iban]``); extra
patterns come from settings. Counts are reported, never the values.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

URL = re.compile(r"(\bhttps?://[^\s<>()\[\]\"']+)", re.I)
EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}(?![\w-])")
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?\b")
CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
# International or North-American style numbers with at least 9 digits, separators allowed.
PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?)?\d{2,4}(?:[ .-]\d{2,4}){2,4}(?![\w-])")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _iban_ok(candidate: str) -> bool:
    s = candidate.replace(" ", "")
    if not 15 <= len(s) <= 34:
        return False
    rearranged = s[4:] + s[:4]
    try:
        number = int("".join(str(int(c, 36)) for c in rearranged))
    except ValueError:
        return False
    return number % 97 == 1


@dataclass
class PiiMasker:
    """Replaces personal data in text with placeholders and counts what it replaced."""

    extra_patterns: Iterable[str] = ()
    counts: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.extra_patterns = tuple(self.extra_patterns)  # kept, so a copy (dataclasses.replace) masks the same
        self._extra = [re.compile(p) for p in self.extra_patterns]

    def mask(self, text: str) -> str:
        # Digits inside a link (archive timestamps, ids in paths) are not phone or card numbers:
        # mask the text between URLs only, and emails (which may appear as mailto: links) everywhere.
        text = EMAIL.sub(self._counted("email"), text)
        for pattern in self._extra:  # configured patterns apply everywhere, links included
            text = pattern.sub(self._counted("custom"), text)
        parts = URL.split(text)
        return "".join(part if i % 2 else self._mask_numbers(part) for i, part in enumerate(parts))

    def _mask_numbers(self, text: str) -> str:
        text = IBAN.sub(lambda m: self._checked("iban", m, _iban_ok(m.group(0))), text)
        text = CARD.sub(lambda m: self._checked("card", m, _luhn_ok(re.sub(r"\D", "", m.group(0)))), text)
        return PHONE.sub(lambda m: self._checked("phone", m, 9 <= sum(c.isdigit() for c in m.group(0)) <= 15), text)

    def _counted(self, kind: str):  # noqa: ANN202 - re callback
        def replace(_: re.Match[str]) -> str:
            self.counts[kind] += 1
            return f"[{kind}]"

        return replace

    def _checked(self, kind: str, match: re.Match[str], ok: bool) -> str:
        if not ok:
            return match.group(0)
        self.counts[kind] += 1
        return f"[{kind}]"
