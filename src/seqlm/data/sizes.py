"""The size of a split's original text, in units every tokenizer shares: UTF-8 bytes and words.

Perplexity per token depends on the tokenizer (a character model predicts five times more
tokens than a word model of the same text), so models tokenized differently are compared
on the text itself: bits per byte (total nats / ln 2 / bytes) and perplexity per word
(exp(total nats / words)). Both need the text's size, counted here when a corpus is loaded.

- bytes: the UTF-8 bytes of the text as read (newlines included, a leading byte order mark
  not, as it is no part of the text);
- words: whitespace-separated words (``str.split``) plus one per line end, a last line
  without a newline counting as ended. On whitespace-tokenized text this is exactly the
  number of word-level tokens (every ``<eos>`` is a word), so there perplexity per word
  equals perplexity per token.
"""

from __future__ import annotations

from collections.abc import Iterable


class TextSize:
    """Accumulates bytes and words over the chunks of one text, in order."""

    def __init__(self) -> None:
        self.bytes = 0
        self.words = 0
        self._open_line = False  # the text so far ends inside a line

    def add(self, text: str) -> None:
        if not text:
            return
        self.bytes += len(text.encode("utf-8"))
        self.words += len(text.split()) + text.count("\n")
        self._open_line = not text.endswith("\n")

    def totals(self) -> tuple[int, int]:
        """(bytes, words), the last line counted as ended."""
        return self.bytes, self.words + self._open_line


def text_size(chunks: Iterable[str]) -> tuple[int, int]:
    """(UTF-8 bytes, words) of the text made of `chunks`."""
    size = TextSize()
    for chunk in chunks:
        size.add(chunk)
    return size.totals()
