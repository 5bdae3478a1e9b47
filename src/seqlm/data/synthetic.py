"""The built-in corpus: English-like sentences whose long-range structure is known exactly.

A small probabilistic grammar generates sentences such as

    the old dogs near a river that the cat with the red hat sees ( by the barn ) chase a bird

Two kinds of token are *determined by a token far back*:

- agreement: a verb's number (``chase`` vs ``chases``) is fixed by its subject noun,
  however many prepositional phrases, relative clauses and asides come between
  (nouns inside those phrases are *attractors* of either number);
- brackets: the closing ``)`` / ``]`` / ``}`` of an aside is fixed by its opener.

The grammar is unambiguous: every choice the generator makes emits a token that no
other choice could emit at that point, so its state is a function of the tokens so far
and the probability it used for each token *is* the true conditional probability
P(w_t | w_<t). Their average negative log is the entropy floor no model can beat;
each dependent token also records its kind and distance so a model can be scored on
exactly those tokens. How far the dependencies reach is set by the number of modifiers
per subject (a truncated geometric distribution, `max_modifiers`/`modifier_p`).
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass, fields

import numpy as np

from seqlm.data.text import EOS
from seqlm.io import SeqlmError

NONE, AGREEMENT, BRACKET = 0, 1, 2
DEPENDENCY_KINDS = {AGREEMENT: "agreement", BRACKET: "bracket"}

DETERMINERS = {  # word -> number it forces (None: either)
    "the": None,
    "some": None,
    "a": "sg",
    "every": "sg",
    "this": "sg",
    "that": "sg",
    "these": "pl",
    "those": "pl",
    "many": "pl",
    "two": "pl",
}
ADJECTIVES = (
    "old young big small red green happy sad quiet loud tall short bright dark strange "
    "famous clever lazy brave gentle angry calm wild tiny heavy"
).split()
NOUNS = [  # (singular, plural)
    ("dog", "dogs"),
    ("cat", "cats"),
    ("bird", "birds"),
    ("horse", "horses"),
    ("farmer", "farmers"),
    ("teacher", "teachers"),
    ("child", "children"),
    ("man", "men"),
    ("woman", "women"),
    ("student", "students"),
    ("king", "kings"),
    ("queen", "queens"),
    ("doctor", "doctors"),
    ("lawyer", "lawyers"),
    ("painter", "painters"),
    ("poet", "poets"),
    ("sailor", "sailors"),
    ("soldier", "soldiers"),
    ("baker", "bakers"),
    ("pilot", "pilots"),
    ("fox", "foxes"),
    ("wolf", "wolves"),
    ("mouse", "mice"),
    ("goose", "geese"),
    ("river", "rivers"),
    ("house", "houses"),
    ("tree", "trees"),
    ("garden", "gardens"),
    ("city", "cities"),
    ("village", "villages"),
    ("bridge", "bridges"),
    ("tower", "towers"),
]
TRANSITIVE = [  # (singular, plural)
    ("sees", "see"),
    ("likes", "like"),
    ("follows", "follow"),
    ("chases", "chase"),
    ("knows", "know"),
    ("helps", "help"),
    ("admires", "admire"),
    ("visits", "visit"),
    ("watches", "watch"),
    ("finds", "find"),
    ("meets", "meet"),
    ("paints", "paint"),
    ("praises", "praise"),
    ("fears", "fear"),
    ("remembers", "remember"),
    ("calls", "call"),
]
INTRANSITIVE = [
    ("sleeps", "sleep"),
    ("runs", "run"),
    ("sings", "sing"),
    ("waits", "wait"),
    ("laughs", "laugh"),
    ("smiles", "smile"),
    ("falls", "fall"),
    ("works", "work"),
]
PREPOSITIONS = "near with behind beside under above across beyond".split()
ADVERBS = "today again slowly quickly quietly often".split()
BRACKETS = {"(": ")", "[": "]", "{": "}"}
RELATIVE = "who"
MAX_MODIFIERS = 1000
MAX_DEPTH = 50


@dataclass(frozen=True)
class SyntheticConfig:
    """Parameters of the grammar and of the corpus size (tokens per split)."""

    seed: int = 0
    train_tokens: int = 1_000_000
    valid_tokens: int = 100_000
    test_tokens: int = 100_000
    max_modifiers: int = 8  # modifiers (phrases, clauses, asides) between subject and verb
    modifier_p: float = 0.6  # truncated-geometric continuation probability of the above
    nested_max_modifiers: int = 2  # the same inside a relative clause
    nested_modifier_p: float = 0.3
    max_depth: int = 2  # nesting of relative clauses
    clause_weight: float = 0.3  # a modifier is a relative clause / aside / prep. phrase
    aside_weight: float = 0.15
    aside_more_p: float = 0.4  # another phrase inside an aside before it closes
    adjective_p: float = 0.25
    adverb_p: float = 0.3

    @classmethod
    def from_spec(cls, spec: str) -> SyntheticConfig:
        """Parse ``key=value,key=value`` (the part after ``synthetic:``)."""
        kinds = {f.name: f.type for f in fields(cls)}
        values: dict[str, object] = {}
        for item in filter(None, spec.split(",")):
            key, sep, value = item.partition("=")
            key = key.strip().replace("-", "_")
            if not sep or key not in kinds:
                raise SeqlmError(
                    f"bad synthetic corpus parameter {item!r} (known: {', '.join(kinds)})"
                )
            try:
                values[key] = int(value) if kinds[key] == "int" else float(value)
            except ValueError:
                raise SeqlmError(f"bad value for synthetic parameter {key}: {value!r}") from None
        config = cls(**values)
        config.validate()
        return config

    def validate(self) -> None:
        for name, value in self.to_json().items():
            if not math.isfinite(value):
                raise SeqlmError(f"synthetic parameter {name} must be finite, got {value}")
        for name in ("modifier_p", "nested_modifier_p", "aside_more_p", "adjective_p", "adverb_p"):
            if not 0 <= getattr(self, name) < 1:
                raise SeqlmError(f"synthetic parameter {name} must be in [0, 1)")
        if min(self.train_tokens, self.valid_tokens, self.test_tokens) < 1:
            raise SeqlmError("synthetic splits need at least one token each")
        if min(self.max_modifiers, self.nested_max_modifiers, self.max_depth) < 0:
            raise SeqlmError("synthetic modifier counts and depth must be >= 0")
        # (the hazards table is quadratic in the count, the nesting recursive in the depth)
        if max(self.max_modifiers, self.nested_max_modifiers) > MAX_MODIFIERS:
            raise SeqlmError(f"synthetic modifier counts must be <= {MAX_MODIFIERS}")
        if self.max_depth > MAX_DEPTH:
            raise SeqlmError(f"synthetic max_depth must be <= {MAX_DEPTH}")
        if (
            min(self.clause_weight, self.aside_weight) < 0
            or self.clause_weight + self.aside_weight >= 1
        ):
            raise SeqlmError("synthetic clause_weight + aside_weight must be in [0, 1)")

    def to_json(self) -> dict:
        return asdict(self)


def vocabulary() -> list[str]:
    """Every word the grammar can emit, in a fixed order."""
    words = [EOS, *DETERMINERS, *ADJECTIVES]
    words += [w for pair in NOUNS for w in pair]
    words += [w for pair in TRANSITIVE + INTRANSITIVE for w in pair]
    words += [*PREPOSITIONS, *ADVERBS, RELATIVE]
    words += [w for pair in BRACKETS.items() for w in pair]
    return list(dict.fromkeys(words))


def _stop_hazards(max_count: int, p: float) -> list[float]:
    """P(K = j | K >= j) for K ~ geometric(p) truncated at max_count."""
    mass = [p**j for j in range(max_count + 1)]
    tails = [sum(mass[j:]) for j in range(max_count + 1)]
    return [m / t for m, t in zip(mass, tails, strict=True)]


@dataclass
class SyntheticSplit:
    tokens: list[str]
    logprob: np.ndarray  # natural log of the generator's P(w_t | w_<t)
    dep_kind: np.ndarray  # NONE / AGREEMENT / BRACKET
    dep_distance: np.ndarray  # tokens back to the token that determines this one (0: none)


class _Sampler:
    """Samples sentences; every `_emit` records the exact conditional probability used."""

    def __init__(self, config: SyntheticConfig, seed: int):
        self.c = config
        self.rng = random.Random(seed)
        self.main_stop = _stop_hazards(config.max_modifiers, config.modifier_p)
        self.nested_stop = _stop_hazards(config.nested_max_modifiers, config.nested_modifier_p)
        self.tokens: list[str] = []
        self.logp: list[float] = []
        self.kind: list[int] = []
        self.dist: list[int] = []

    def _emit(self, token: str, p: float, kind: int = NONE, distance: int = 0) -> int:
        self.tokens.append(token)
        self.logp.append(math.log(p))
        self.kind.append(kind)
        self.dist.append(distance)
        return len(self.tokens) - 1

    def _pick(self, options):
        return options[int(self.rng.random() * len(options))]

    def noun_phrase(self) -> tuple[int, int]:
        """det adj* noun; returns (number 0=sg/1=pl, position of the noun)."""
        c, rng = self.c, self.rng
        det = self._pick(list(DETERMINERS))
        self._emit(det, 1 / len(DETERMINERS))
        while rng.random() < c.adjective_p:
            self._emit(self._pick(ADJECTIVES), c.adjective_p / len(ADJECTIVES))
        forced = DETERMINERS[det]
        if forced is None:
            number, p_number = int(rng.random() < 0.5), 0.5
        else:
            number, p_number = (0 if forced == "sg" else 1), 1.0
        noun = self._pick(NOUNS)[number]
        return number, self._emit(noun, (1 - c.adjective_p) * p_number / len(NOUNS))

    def modifiers_then_verb(self, number: int, noun_pos: int, depth: int) -> str:
        """Modifiers of a subject, then the verb that agrees with it; returns the verb."""
        c, rng = self.c, self.rng
        stops = self.main_stop if depth == 0 else self.nested_stop
        weights = {
            "clause": c.clause_weight if depth < c.max_depth else 0.0,
            "aside": c.aside_weight,
        }
        weights["phrase"] = 1.0 - c.clause_weight - c.aside_weight
        total = sum(weights.values())
        j = 0
        while True:
            stop = stops[j]
            if rng.random() < stop:
                verbs = TRANSITIVE + INTRANSITIVE if depth == 0 else TRANSITIVE
                verb = self._pick(verbs)[number]
                self._emit(verb, stop / len(verbs), AGREEMENT, len(self.tokens) - noun_pos)
                return verb
            go = 1 - stop
            u = rng.random() * total
            if u < weights["clause"]:
                self._emit(RELATIVE, go * weights["clause"] / total)
                inner_number, inner_pos = self.noun_phrase()
                self.modifiers_then_verb(inner_number, inner_pos, depth + 1)
            elif u < weights["clause"] + weights["aside"]:
                opener = self._pick(list(BRACKETS))
                open_pos = self._emit(opener, go * weights["aside"] / total / len(BRACKETS))
                self._emit(self._pick(PREPOSITIONS), 1 / len(PREPOSITIONS))
                self.noun_phrase()
                while rng.random() < c.aside_more_p:
                    self._emit(self._pick(PREPOSITIONS), c.aside_more_p / len(PREPOSITIONS))
                    self.noun_phrase()
                closer = BRACKETS[opener]
                self._emit(closer, 1 - c.aside_more_p, BRACKET, len(self.tokens) - open_pos)
            else:
                prep = self._pick(PREPOSITIONS)
                self._emit(prep, go * weights["phrase"] / total / len(PREPOSITIONS))
                self.noun_phrase()
            j += 1

    def sentence(self) -> None:
        c, rng = self.c, self.rng
        number, noun_pos = self.noun_phrase()
        verb = self.modifiers_then_verb(number, noun_pos, depth=0)
        if verb in {w for pair in TRANSITIVE for w in pair}:
            self.noun_phrase()  # the object
            self._emit(EOS, 1.0)
        elif rng.random() < c.adverb_p:
            self._emit(self._pick(ADVERBS), c.adverb_p / len(ADVERBS))
            self._emit(EOS, 1.0)
        else:
            self._emit(EOS, 1 - c.adverb_p)

    def sample(self, n_tokens: int) -> SyntheticSplit:
        while len(self.tokens) < n_tokens:
            self.sentence()
        return SyntheticSplit(
            self.tokens,
            np.asarray(self.logp, dtype=np.float64),
            np.asarray(self.kind, dtype=np.int8),
            np.asarray(self.dist, dtype=np.int32),
        )


def generate_split(config: SyntheticConfig, split: str) -> SyntheticSplit:
    """Whole sentences, at least the configured number of tokens, seeded per split."""
    index = ("train", "valid", "test").index(split)
    size = (config.train_tokens, config.valid_tokens, config.test_tokens)[index]
    return _Sampler(config, seed=config.seed * 1000 + index).sample(size)
