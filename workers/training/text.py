"""Text to token ids, the same for both frameworks: words (Unicode ``\\w+`` runs of the
lower-cased text, NFKC-normalised), each hashed (BLAKE2b, so no process's hash seed matters)
into ``1 .. vocab_size - 1``; id 0 pads a text shorter than ``max_tokens``, and words past
``max_tokens`` are dropped. A text without words gets the bucket of the empty word, so no
row is all padding (an average over no tokens would be 0/0). No vocabulary is learned or
stored: the spec's numbers are the whole tokenizer."""

from __future__ import annotations

import hashlib
import re
import unicodedata

import numpy as np

WORD = re.compile(r"\w+")
PAD = 0


def words(text: str) -> list[str]:
    """The text's words, lower-cased."""
    return WORD.findall(unicodedata.normalize("NFKC", text).lower())


def token_id(word: str, vocab_size: int) -> int:
    """The word's bucket, 1 .. vocab_size - 1."""
    digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
    return 1 + int.from_bytes(digest, "little") % (vocab_size - 1)


def token_ids(texts: list[str], vocab_size: int, max_tokens: int) -> np.ndarray:
    """int32 ids, one row of `max_tokens` per text (padded with PAD)."""
    out = np.zeros((len(texts), max_tokens), dtype=np.int32)
    cache: dict[str, int] = {}
    for row, text in enumerate(texts):
        for col, word in enumerate(words(text)[:max_tokens] or [""]):
            if word not in cache:
                cache[word] = token_id(word, vocab_size)
            out[row, col] = cache[word]
    return out
