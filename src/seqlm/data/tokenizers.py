"""Tokenizers: how text becomes the tokens a model predicts, and back.

Every tokenizer ends each line with `<eos>` (so a text's line structure is part of what is
predicted, and every model is scored on the same events), and `decode(encode(text))`
gives the text back for all but `whitespace`, which is for corpora that arrive
pre-tokenised (PTB). A text whose last line has no line end gains one.

- `whitespace`: split on spaces and tabs; decoding joins with single spaces.
- `words`: words (Unicode letters, digits, `_`), each punctuation mark, and runs of
  spaces other than a single one, as tokens. One space between two tokens is implied;
  a token written right after the previous one, with no space, carries the prefix
  `GLUE` (``"list", "⁀."``), so the text comes back byte for byte and most tokens keep
  the form they have in a pre-tokenised corpus.
- `chars`: characters.
- `bytes`: UTF-8 bytes (printable ASCII and the space as themselves, the rest as ``<0xAB>``): an open
  vocabulary of 256 symbols.
- `bpe:N`: byte-level BPE with N merges (Hugging Face `tokenizers`), trained on the train
  split and saved beside the model as `tokenizer.json`: an open vocabulary.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from pathlib import Path

from seqlm.io import SeqlmError

EOS = "<eos>"
GLUE = "⁀"  # U+2040, a punctuation mark: no word or space token starts with it
SPACE = " "
NAMES = ("whitespace", "words", "chars", "bytes", "bpe:N")
LEGACY = {"word": "whitespace", "char": "chars"}  # the names model directories kept before
WORDS = re.compile(r"\w+|[^\w\s]|[^\S\n]+")


def lines_of(text: str) -> Iterator[str]:
    """The lines of `text` without their line ends ("\\n" only: a "\\r" stays text)."""
    if not text:
        return
    parts = text.split("\n")
    if parts[-1] == "":
        parts.pop()
    yield from parts


class Tokenizer(ABC):
    """Text to tokens (strings, `<eos>` closing each line) and tokens to text."""

    name: str
    open_vocabulary = False  # every text encodes without <unk>
    characters = False  # a token is a character: bits per character is the natural unit
    level = "word"  # granularity: word, char, byte or subword
    implied_space = False  # a token's text may start with a space that is not its own

    def encode(self, text: str) -> list[str]:
        tokens: list[str] = []
        for line in lines_of(text):
            tokens.extend(self.encode_line(line))
            tokens.append(EOS)
        return tokens

    @abstractmethod
    def encode_line(self, line: str) -> list[str]: ...

    def decode(self, tokens: Iterable[str]) -> str:
        joiner = self.joiner()
        return "".join(joiner.piece(t) for t in tokens) + joiner.flush()

    def joiner(self) -> Joiner:
        """A stateful decoder: text piece by piece, as a stream of tokens arrives."""
        return Joiner(self)

    def piece(self, token: str, previous: str | None) -> str:
        """The text `token` adds after `previous` (None at the start of a line)."""
        return "\n" if token == EOS else token

    def spans(self, text: str, tokens: list[str]) -> list[tuple[int, int]]:
        """Each token's (start, end) in `text` (its encoding): slicing `text` by them gives
        the tokens' own text; `<eos>` spans its line end (empty where the text has none)."""
        joiner, out, at = self.joiner(), [], 0
        for token in tokens:
            piece = joiner.piece(token)
            start, at = at, min(at + len(piece), len(text))
            if self.implied_space and piece.startswith(SPACE) and not token.startswith(SPACE):
                start = min(start + 1, at)
            out.append((start, at))
        return out

    def to_json(self) -> dict:
        return {"name": self.name}

    def __repr__(self) -> str:
        return f"<tokenizer {self.name}>"


class Joiner:
    """Turns a stream of tokens into text pieces; `flush` gives what is still held back
    (the bytes of an unfinished UTF-8 character)."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer, self.previous = tokenizer, None

    def piece(self, token: str) -> str:
        text = self.tokenizer.piece(token, self.previous)
        self.previous = None if token == EOS else token
        return text

    def flush(self) -> str:
        return ""


class Whitespace(Tokenizer):
    name = "whitespace"

    def encode_line(self, line: str) -> list[str]:
        return line.split()

    def spans(self, text: str, tokens: list[str]) -> list[tuple[int, int]]:
        """Not reversible: each word is found where it stands in `text`."""
        out, at = [], 0
        for token in tokens:
            if token == EOS:
                end = text.find("\n", at)
                start, at = (len(text), len(text)) if end < 0 else (end, end + 1)
                out.append((start, at))
                continue
            start = text.find(token, at)
            at = start + len(token)
            out.append((start, at))
        return out

    def piece(self, token: str, previous: str | None) -> str:
        if token == EOS:
            return "\n"
        return token if previous is None else SPACE + token


class Words(Tokenizer):
    name = "words"
    implied_space = True

    def encode_line(self, line: str) -> list[str]:
        tokens: list[str] = []
        after = None  # what the next token follows: None (line start), "space", "token"
        for match in WORDS.finditer(line):
            token = match.group()
            if token.isspace():
                if token == SPACE and after == "token" and match.end() < len(line):
                    after = "implied"  # the one space between two tokens goes unwritten
                    continue
                tokens.append(token)
                after = "space"
                continue
            tokens.append(GLUE + token if after == "token" else token)
            after = "token"
        return tokens

    def piece(self, token: str, previous: str | None) -> str:
        if token == EOS:
            return "\n"
        if len(token) > 1 and token[0] == GLUE:
            return token[1:]
        if previous is None or token.isspace() or previous.isspace():
            return token
        return SPACE + token


class Chars(Tokenizer):
    name = "chars"
    characters = True
    level = "char"

    def encode_line(self, line: str) -> list[str]:
        return list(line)


def _byte_token(b: int) -> str:
    return chr(b) if 0x20 <= b <= 0x7E else f"<0x{b:02X}>"


BYTE_TOKENS = [_byte_token(b) for b in range(256)]
BYTE_VALUES = {t: b for b, t in enumerate(BYTE_TOKENS)}


class Bytes(Tokenizer):
    name = "bytes"
    open_vocabulary = True
    level = "byte"

    def encode_line(self, line: str) -> list[str]:
        return [BYTE_TOKENS[b] for b in line.encode("utf-8")]

    def joiner(self) -> Joiner:
        return ByteJoiner(self, lambda token: bytes([BYTE_VALUES[token]]))

    @staticmethod
    def alphabet() -> list[str]:
        return list(BYTE_TOKENS)


class ByteJoiner(Joiner):
    """Bytes to text as they come: a character split over tokens appears when complete;
    bytes that never make a valid character become U+FFFD (a sampled stream may end
    mid-character)."""

    def __init__(self, tokenizer: Tokenizer, to_bytes) -> None:
        import codecs

        super().__init__(tokenizer)
        self.to_bytes = to_bytes
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def piece(self, token: str) -> str:
        if token == EOS:
            return self.decoder.decode(b"", final=True) + "\n"
        return self.decoder.decode(self.to_bytes(token))

    def flush(self) -> str:
        return self.decoder.decode(b"", final=True)


class BPE(Tokenizer):
    """Byte-level BPE (GPT-2's byte alphabet, no added prefix space) from `tokenizers`."""

    open_vocabulary = True
    level = "subword"

    def __init__(self, merges: int, model=None) -> None:
        self.merges, self.model = merges, model
        self.name = f"bpe:{merges}"

    @classmethod
    def train(cls, lines: Iterable[str], merges: int) -> BPE:
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers import decoders, models, pre_tokenizers, trainers

        model = HFTokenizer(models.BPE())
        model.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        model.decoder = decoders.ByteLevel()
        alphabet = pre_tokenizers.ByteLevel.alphabet()
        trainer = trainers.BpeTrainer(
            vocab_size=len(alphabet) + merges,
            initial_alphabet=alphabet,
            min_frequency=2,
            show_progress=False,
            special_tokens=[],
        )
        model.train_from_iterator(lines, trainer=trainer)
        return cls(merges, model)

    @classmethod
    def load(cls, path: str | Path, merges: int) -> BPE:
        from tokenizers import Tokenizer as HFTokenizer

        try:
            return cls(merges, HFTokenizer.from_file(str(path)))
        except Exception as e:  # tokenizers raises its own Exception type on a bad file
            raise SeqlmError(f"{path}: not a readable tokenizer file ({e})") from None

    def save(self, path: str | Path) -> None:
        from seqlm.io import atomic_write_text

        atomic_write_text(path, self.model.to_str())

    def encode_line(self, line: str) -> list[str]:
        if not line:
            return []
        return self.model.encode(line, add_special_tokens=False).tokens

    def alphabet(self) -> list[str]:
        vocab = self.model.get_vocab()
        return sorted(vocab, key=vocab.__getitem__)

    def joiner(self) -> Joiner:
        from tokenizers import pre_tokenizers

        table = {c: b for b, c in _gpt2_bytes(pre_tokenizers.ByteLevel.alphabet())}
        return ByteJoiner(self, lambda token: bytes(table[c] for c in token))


def _gpt2_bytes(alphabet: list[str]) -> list[tuple[int, str]]:
    """GPT-2's byte -> printable character table (the one `tokenizers` uses)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    assert set(table.values()) == set(alphabet)
    return list(table.items())


SIMPLE = {"whitespace": Whitespace, "words": Words, "chars": Chars, "bytes": Bytes}


def check_name(name: str) -> str:
    """A tokenizer's name as stored (`word`/`char` read as `whitespace`/`chars`)."""
    name = LEGACY.get(name, name)
    if name in SIMPLE:
        return name
    if name.startswith("bpe:"):
        merges = name[4:]
        if merges.isdigit() and 1 <= int(merges) <= 1_000_000:
            return f"bpe:{int(merges)}"
    raise SeqlmError(f"unknown tokenizer {name!r} (choose from {', '.join(NAMES)}; N merges >= 1)")


def make(name: str, directory: str | Path | None = None) -> Tokenizer:
    """The tokenizer called `name`; a BPE one is read from `directory`/tokenizer.json."""
    name = check_name(name)
    if name in SIMPLE:
        return SIMPLE[name]()
    if directory is None:
        raise SeqlmError(f"tokenizer {name} needs its trained tokenizer.json")
    return BPE.load(Path(directory) / "tokenizer.json", int(name[4:]))


# a word glued to sentence punctuation or a quote/bracket: raw text has many (commas,
# sentence ends), pre-tokenised corpora none (PTB's only glued marks are abbreviations'
# full stops, which this leaves out)
GLUED = re.compile(r"\w[,;:!?\"\u201d)\]]+$|^[\"\u201c(\[]+\w")
RAW_SHARE = 0.02  # measured share: PTB 0.0, Tiny Shakespeare 0.19, English prose 0.13-0.15


def choose(lines: Iterable[str]) -> tuple[str, str]:
    """The tokenizer for a corpus without a preset, and why: `words` for raw text (words
    carry their punctuation), `whitespace` for text already tokenised."""
    words = glued = 0
    for line in lines:
        for token in line.split():
            if any(c.isalnum() for c in token):
                words += 1
                glued += GLUED.search(token) is not None
    if not words:
        return "whitespace", "no words in the sample"
    share = glued / words
    if share >= RAW_SHARE:
        return "words", f"raw text: {share:.1%} of its words carry punctuation"
    return "whitespace", f"pre-tokenised text: {share:.1%} of its words carry punctuation"
