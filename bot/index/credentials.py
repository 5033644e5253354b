"""Mask credentials before anything is chunked, embedded or stored: in every document, articles too.

A customer pastes a password into a ticket, an engineer leaves an API key in an internal runbook,
a page quotes a connection string: none of it may ever be quoted back in an answer or a draft,
so it never reaches the index. Replaced by ``[credential]`` (the label before it is kept, so
"password: [credential]" still reads):

==================  =====================================================================
kind                what
==================  =====================================================================
``private_key``     PEM private key blocks (``-----BEGIN ... PRIVATE KEY-----`` ... ``END``)
``url_password``    the user-information part of a URL (``postgres://app:s3cret@db/x``)
``token``           well-known token shapes anywhere: Slack, OpenAI, Stripe, GitHub, AWS
                    access keys, Google API keys, JWTs, ``Bearer`` / ``Basic`` credentials
``labelled``        a secret-looking value after a label: ``password: Hunter2!``,
                    ``api_key=...``, ``client secret is 9f8e...``
==================  =====================================================================

A labelled value is masked only when it looks like a secret (no spaces, six characters or more,
letters mixed with digits or symbols, or mixed case), so prose such as "password: open the
sign-in page" is left alone. Counts per kind are reported (the sync report), never the values.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

PLACEHOLDER = "[credential]"

_PRIVATE_KEY = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\n\s*\n|\Z)",
    re.S)
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]{1,20}://)([^/\s@:'\"<>]*:[^/\s@'\"<>]+|[^/\s@:'\"<>]{16,})@")
_TOKENS = re.compile(
    r"\b(?:xox[abposr]-[A-Za-z0-9-]{10,}|xapp-[A-Za-z0-9-]{10,}"
    r"|sk-(?:proj-|live-|test-)?[A-Za-z0-9_-]{20,}|(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{10,}"
    r"|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}|glpat-[A-Za-z0-9_-]{20,}"
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{35}"
    r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})")
_AUTH_SCHEME = re.compile(r"\b(Bearer|Basic|Token|bearer|basic|token)\s+([A-Za-z0-9._~+/=-]{16,})")
_LABELLED = re.compile(
    r"(?i)\b((?:password|passwd|passphrase|pwd|pass ?code|pin code|secret|client[_ -]?secret|secret[_ -]?key"
    r"|api[_ -]?key|api[_ -]?token|access[_ -]?key(?:[_ -]?id)?|access[_ -]?token|auth[_ -]?token|refresh[_ -]?token"
    r"|private[_ -]?key|signing[_ -]?secret|webhook[_ -]?secret|token|credentials?)s?"
    r"(?:\s+(?:is|was|=)|\s*[:=]|\s*=>)\s*[\"'`]?)([^\s\"'`<>]{6,200})")


def looks_secret(value: str) -> bool:
    """A value after a secret's label that is not an ordinary word: letters mixed with digits or symbols,
    or mixed case past the first letter."""
    value = value.rstrip(".,;:)]}!?")
    if len(value) < 6 or value == PLACEHOLDER or value.startswith(("[", "<", "{", "http://", "https://")):
        return False
    letters = any(c.isalpha() for c in value)
    digits = any(c.isdigit() for c in value)
    symbols = any(not c.isalnum() for c in value)
    mixed_case = any(c.isupper() for c in value[1:]) and any(c.islower() for c in value)
    if letters and (digits or mixed_case):
        return True
    if symbols and (letters or digits) and not re.fullmatch(r"[a-z]+(?:[-'][a-z]+)*", value, re.I):
        return True
    return digits and len(value) >= 8 and not value.isdigit()


@dataclass
class CredentialMasker:
    """Replaces credentials in text with ``[credential]`` and counts what it replaced, per kind."""

    counts: Counter[str] = field(default_factory=Counter)

    def mask(self, text: str) -> str:
        text = _PRIVATE_KEY.sub(self._counted("private_key", lambda m: PLACEHOLDER + _tail(m.group(0))), text)
        text = _URL_USERINFO.sub(self._counted("url_password", lambda m: f"{m.group(1)}{PLACEHOLDER}@"), text)
        text = _TOKENS.sub(self._counted("token", lambda m: PLACEHOLDER), text)
        text = _AUTH_SCHEME.sub(self._scheme, text)
        return _LABELLED.sub(self._labelled, text)

    def _scheme(self, match: re.Match[str]) -> str:
        value = match.group(2)
        # A credential carries digits (base64, hex, JWT) or base64 padding; "Basic Client/Server" does not.
        if not (any(c.isdigit() for c in value) or value.endswith("=")) or not looks_secret(value):
            return match.group(0)
        self.counts["token"] += 1
        return f"{match.group(1)} {PLACEHOLDER}"

    def _labelled(self, match: re.Match[str]) -> str:
        value = match.group(2)
        if not looks_secret(value):
            return match.group(0)
        kept = value[len(value.rstrip(".,;:)]}!?")):]  # trailing punctuation belongs to the sentence
        self.counts["labelled"] += 1
        return f"{match.group(1)}{PLACEHOLDER}{kept}"

    def _counted(self, kind: str, replace):  # noqa: ANN001, ANN202 - re callback factory
        def sub(match: re.Match[str]) -> str:
            self.counts[kind] += 1
            return replace(match)

        return sub


def _tail(block: str) -> str:
    # A key block cut at a blank line keeps that blank line (the paragraph after it is not key).
    return "\n\n" if block.endswith("\n\n") or re.search(r"\n\s*\n$", block) else ""
