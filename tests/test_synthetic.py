import math
from collections import Counter, defaultdict

import numpy as np
import pytest

from seqlm.data import EOS, load_corpus
from seqlm.data import synthetic as syn
from seqlm.io import SeqlmError


def sentences(tokens):
    out, current = [], []
    for t in tokens:
        current.append(t)
        if t == EOS:
            out.append(tuple(current))
            current = []
    return out


def test_entropy_of_a_tiny_grammar_computed_by_hand():
    # No modifiers, adjectives or adverbs: det noun verb [det noun] <eos>.
    config = syn.SyntheticConfig(
        train_tokens=200_000, max_modifiers=0, adjective_p=0.0, adverb_p=0.0
    )
    split = syn.generate_split(config, "train")
    n_det, n_noun = len(syn.DETERMINERS), len(syn.NOUNS)
    n_trans, n_verbs = len(syn.TRANSITIVE), len(syn.TRANSITIVE) + len(syn.INTRANSITIVE)
    free = sum(v is None for v in syn.DETERMINERS.values()) / n_det  # dets allowing both numbers
    h_np = math.log(n_det) + math.log(n_noun) + free * math.log(2)
    p_trans = n_trans / n_verbs
    h_sentence = h_np + math.log(n_verbs) + p_trans * h_np  # <eos> is certain
    length = 2 + 1 + p_trans * 2 + 1
    recorded = -split.logprob.mean()
    assert recorded == pytest.approx(h_sentence / length, rel=0.01)
    # with no modifiers every verb directly follows its subject
    assert set(split.dep_distance[split.dep_kind == syn.AGREEMENT].tolist()) == {1}


def test_recorded_probabilities_match_sampled_frequencies():
    """An independent check of P(w_t | w_<t): frequencies over many sampled sentences."""
    config = syn.SyntheticConfig(train_tokens=400_000)
    split = syn.generate_split(config, "train")
    counts: dict[tuple, Counter] = defaultdict(Counter)
    recorded: dict[tuple, float] = {}
    position = 0
    for sentence in sentences(split.tokens):
        for t in range(min(3, len(sentence))):
            prefix = sentence[:t]
            counts[prefix][sentence[t]] += 1
            recorded[prefix + (sentence[t],)] = split.logprob[position + t]
        position += len(sentence)
    checked = 0
    for prefix, following in counts.items():
        total = sum(following.values())
        for token, n in following.items():
            if n >= 30:
                p = math.exp(recorded[prefix + (token,)])
                assert n / total == pytest.approx(p, abs=4.5 * math.sqrt(p * (1 - p) / total))
                checked += 1
    assert checked > 200


def test_agreement_and_brackets_are_marked_at_the_right_distance():
    split = syn.generate_split(syn.SyntheticConfig(train_tokens=50_000), "train")
    singular = {s for s, _ in syn.NOUNS} | {s for s, _ in syn.TRANSITIVE + syn.INTRANSITIVE}
    plural = {p for _, p in syn.NOUNS} | {p for _, p in syn.TRANSITIVE + syn.INTRANSITIVE}
    kinds, distances = split.dep_kind, split.dep_distance
    agreement = np.flatnonzero(kinds == syn.AGREEMENT)
    brackets = np.flatnonzero(kinds == syn.BRACKET)
    assert len(agreement) > 5000 and len(brackets) > 500
    for i in agreement:
        verb, noun = split.tokens[i], split.tokens[i - distances[i]]
        assert (verb in singular) == (noun in singular) and (verb in plural) == (noun in plural)
    for i in brackets:
        assert syn.BRACKETS[split.tokens[i - distances[i]]] == split.tokens[i]
    assert distances[agreement].max() >= 20  # some dependencies reach far
    assert (distances[kinds == syn.NONE] == 0).all()
    assert set(split.tokens) <= set(syn.vocabulary())


def test_longer_dependencies_on_request_and_seeded():
    near = syn.generate_split(syn.SyntheticConfig(train_tokens=30_000, modifier_p=0.3), "train")
    far = syn.generate_split(
        syn.SyntheticConfig(train_tokens=30_000, modifier_p=0.85, max_modifiers=20), "train"
    )
    mean = lambda s: s.dep_distance[s.dep_kind == syn.AGREEMENT].mean()  # noqa: E731
    assert mean(far) > 2 * mean(near)
    again = syn.generate_split(syn.SyntheticConfig(train_tokens=30_000, modifier_p=0.3), "train")
    assert again.tokens == near.tokens


def test_synthetic_corpus_and_its_floor():
    corpus = load_corpus("synthetic:train_tokens=20000,valid_tokens=5000,test_tokens=5000")
    assert (
        len(corpus["train"]) >= 20_000 and len(corpus.vocab) == len(syn.vocabulary()) + 1
    )  # + <unk>
    floor = corpus.entropy_floor("test")
    assert 1.0 < floor < math.log(len(corpus.vocab))
    assert corpus.stats()["entropy_floor"]["test"]["perplexity"] == pytest.approx(
        math.exp(floor), rel=1e-4
    )
    with pytest.raises(SeqlmError, match="bad synthetic corpus parameter"):
        load_corpus("synthetic:colour=blue")
    with pytest.raises(SeqlmError, match="modifier_p"):
        load_corpus("synthetic:modifier_p=1.5")


@pytest.mark.parametrize(
    "spec, message",
    [
        ("clause_weight=nan", "clause_weight must be finite"),
        ("aside_weight=inf", "aside_weight must be finite"),
        ("max_modifiers=100000000", "modifier counts must be <= 1000"),
        ("max_depth=5000", "max_depth must be <= 50"),
    ],
)
def test_nonsense_synthetic_parameters_are_refused(spec, message):
    with pytest.raises(SeqlmError, match=message):
        syn.SyntheticConfig.from_spec(spec)
