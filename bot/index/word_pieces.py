"""The embedding model's word pieces of a text (ids, or just their count), without encoding the text.

The chunker counts tokens of every section it packs or splits, and a full ``Tokenizer.encode``
(normalising with alignments, pre-tokenising, building an encoding with ids, offsets and masks)
cost more than anything else a sync does to a ticket once embedding happens elsewhere; the
reader's meaning feature tokenizes every candidate unit of every answer. Neither needs all that:
for BERT-style tokenizers (``BertNormalizer`` lower-casing, ``BertPreTokenizer``, ``WordPiece``) a
text's pieces are its words' pieces in order, and words repeat. So :class:`WordPieces`
lower-cases, cuts words the way ``BertPreTokenizer`` does (runs of letters and digits; every
punctuation character alone; white space between) and looks each word's pieces up, asked of the
model once per distinct word.

That shortcut is taken only where it is exactly the tokenizer's own count: printable ASCII text
(with tabs and line breaks) naming none of the tokenizer's added tokens ("[MASK]"), and a
BERT-style pipeline. Anything else (accents, other scripts, control characters, another
tokenizer) goes through ``encode`` as before.
"""

from __future__ import annotations

import re
from typing import Any

#: Printable ASCII with tab, line feed and carriage return: text the fast path reads exactly.
_PLAIN = re.compile(r"[\t\n\r\x20-\x7e]*\Z")
#: ``BertPreTokenizer`` on lower-cased ASCII: runs of letters and digits, or one punctuation character.
_WORD = re.compile(r"[a-z0-9]+|[!-/:-@\[-`{-~]")
#: Distinct words remembered (cleared when full: IDs and hashes would otherwise grow it forever),
#: each of at most this many characters (WordPiece reads a longer word as one unknown piece anyway),
#: so the cache stays under a few tens of megabytes whatever the text.
MAX_CACHED_WORDS = 200_000
MAX_CACHED_WORD_CHARS = 100


class WordPieces:
    """A text's word-piece ids as ``tokenizer.encode(text, add_special_tokens=False).ids`` gives
    them, and their count; fast for plain ASCII text.

    Args:
        tokenizer: a ``tokenizers.Tokenizer`` without truncation or padding.
    """

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self._pieces: dict[str, tuple[int, ...]] = {}
        #: ``len`` of each cached word's pieces: a text of known words is counted by look-ups alone.
        self._lengths: dict[str, int] = {}
        self._fast = _bert_style(tokenizer)
        # Added tokens ("[PAD]", "[MASK]" ...) are matched in the text before anything else.
        self._added = tuple({t.content.lower() for t in tokenizer.get_added_tokens_decoder().values()})

    def count(self, text: str) -> int:
        """How many word pieces ``text`` is (what the chunker budgets)."""
        words = self._words(text)
        if words is None:
            return len(self.tokenizer.encode(text, add_special_tokens=False).ids)
        try:
            return sum(map(self._lengths.__getitem__, words))
        except KeyError:  # a word not seen yet (or not cacheable)
            return sum(len(self._word(w)) for w in words)

    def ids(self, text: str) -> list[int]:
        """The word-piece ids of ``text``, special tokens not added."""
        words = self._words(text)
        if words is None:
            return list(self.tokenizer.encode(text, add_special_tokens=False).ids)
        out: list[int] = []
        for w in words:
            out.extend(self._word(w))
        return out

    def _words(self, text: str) -> list[str] | None:
        """The pre-tokenizer's words of ``text``; None where only the tokenizer itself is exact."""
        lowered = text.lower()
        if not self._fast or not _PLAIN.match(text) or any(t in lowered for t in self._added):
            return None
        return _WORD.findall(lowered)

    def _word(self, word: str) -> tuple[int, ...]:
        pieces = self._pieces.get(word)
        if pieces is None:
            pieces = tuple(t.id for t in self.tokenizer.model.tokenize(word))
            if len(word) <= MAX_CACHED_WORD_CHARS:  # a blob's "words" would make the cache huge
                if len(self._pieces) >= MAX_CACHED_WORDS:
                    self._pieces.clear()
                    self._lengths.clear()
                self._pieces[word] = pieces
                self._lengths[word] = len(pieces)
        return pieces


def _bert_style(tokenizer: Any) -> bool:
    """Whether the tokenizer is the pipeline the fast path reproduces (all-MiniLM-L6-v2's is). A
    post-processor (BERT's ``[CLS] ... [SEP]``) does not matter: counts are taken without special tokens."""
    from tokenizers.models import WordPiece
    from tokenizers.normalizers import BertNormalizer
    from tokenizers.pre_tokenizers import BertPreTokenizer

    normalizer = tokenizer.normalizer
    return (isinstance(normalizer, BertNormalizer) and bool(getattr(normalizer, "lowercase", False))
            and bool(getattr(normalizer, "clean_text", False))
            and isinstance(tokenizer.pre_tokenizer, BertPreTokenizer) and isinstance(tokenizer.model, WordPiece))
