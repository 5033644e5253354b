"""Exact word-piece token counts of the embedding model's tokenizer, without encoding the text.

The chunker counts tokens of every section it packs or splits, and a full ``Tokenizer.encode``
(normalising with alignments, pre-tokenising, building an encoding with ids, offsets and masks)
cost more than anything else a sync does to a ticket once embedding happens elsewhere. A count
needs none of that: for BERT-style tokenizers (``BertNormalizer`` lower-casing,
``BertPreTokenizer``, ``WordPiece``) it is the sum, over the text's words, of each word's word
pieces, and words repeat. So :class:`TokenCounter` lower-cases, cuts words the way
``BertPreTokenizer`` does (runs of letters and digits; every punctuation character alone; white
space between) and adds up each word's piece count, asked of the model once per distinct word.

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
#: Distinct words remembered (cleared when full: IDs and hashes would otherwise grow it forever).
MAX_CACHED_WORDS = 200_000


class TokenCounter:
    """``len(tokenizer.encode(text, add_special_tokens=False).ids)``, fast for plain ASCII text.

    Args:
        tokenizer: a ``tokenizers.Tokenizer`` without truncation or padding.
    """

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self._pieces: dict[str, int] = {}
        self._fast = _bert_style(tokenizer)
        # Added tokens ("[PAD]", "[MASK]" ...) are matched in the text before anything else.
        self._added = tuple({t.content.lower() for t in tokenizer.get_added_tokens_decoder().values()})

    def __call__(self, text: str) -> int:
        lowered = text.lower()
        if not self._fast or not _PLAIN.match(text) or any(t in lowered for t in self._added):
            return len(self.tokenizer.encode(text, add_special_tokens=False).ids)
        pieces = self._pieces
        total = 0
        for word in _WORD.findall(lowered):
            n = pieces.get(word)
            if n is None:
                if len(pieces) >= MAX_CACHED_WORDS:
                    pieces.clear()
                n = pieces[word] = len(self.tokenizer.model.tokenize(word))
            total += n
        return total


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
