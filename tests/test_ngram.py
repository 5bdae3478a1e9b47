import gzip
import math
from collections import Counter, defaultdict

import numpy as np
import pytest
from conftest import SMALL_2K

from seqlm.data import EOS, Vocab, load_corpus
from seqlm.data.vocab import VocabBuilder
from seqlm.evaluate import evaluate
from seqlm.io import SeqlmError
from seqlm.ngram import NgramLM, read_arpa


@pytest.fixture(scope="module")
def ptb(data_dir):
    return load_corpus("ptb")


@pytest.fixture(scope="module")
def ptb3(ptb):
    return NgramLM.train(ptb["train"], ptb.vocab, 3)


@pytest.fixture(scope="module")
def kenlm3(data_dir):
    return NgramLM.from_arpa(data_dir / "kenlm" / "ptb.o3.arpa.gz")


def test_ptb_trigram_perplexity_equals_kenlm(ptb, ptb3):
    # ANCHORS.md: KenLM lmplz -o 3, query, </s> counted: valid 157.77, test 148.28
    assert evaluate(ptb3, ptb, "valid").perplexity == pytest.approx(157.77, rel=1e-3)
    assert evaluate(ptb3, ptb, "test").perplexity == pytest.approx(148.28, rel=1e-3)


def ptb_test_as_kenlm_saw_it(data_dir) -> list[str]:
    text = (data_dir / "ptb" / "test.txt").read_text()
    return ["UNKWORD" if w == "<unk>" else w for w in text.replace("\n", f" {EOS} ").split()]


def test_reading_kenlm_arpa_reproduces_its_query_totals(data_dir, kenlm3):
    ids = kenlm3.encode(ptb_test_as_kenlm_saw_it(data_dir))
    log10p = kenlm3.log10_probs(ids)
    starts = np.concatenate([[0], np.flatnonzero(ids == kenlm3.eos)[:-1] + 1])
    totals = np.add.reduceat(log10p, starts)
    path = data_dir / "kenlm" / "ptb.o3.test.query.txt.gz"
    with gzip.open(path, "rt") as f:
        reference = [float(line.split("Total:")[1].split()[0]) for line in f if "Total:" in line]
    assert len(reference) == len(totals) == 3761
    np.testing.assert_allclose(totals, reference, atol=1e-4)


def test_written_arpa_has_kenlms_ngrams_and_numbers(ptb3, kenlm3, tmp_path):
    ptb3.save(tmp_path / "m", arpa=True)  # the binary form is the default
    ours = arpa_dict(tmp_path / "m" / "model.arpa")
    theirs = arpa_dict(kenlm3_path := kenlm3.info["source"])
    assert kenlm3_path.endswith(".arpa.gz")
    # KenLM saw PTB's <unk> as UNKWORD and adds its own zero-count <unk>; we treat PTB's
    # <unk> as a word (the papers' convention), so compare under that renaming.
    del theirs[("<unk>",)]
    theirs = {tuple("<unk>" if w == "UNKWORD" else w for w in g): v for g, v in theirs.items()}
    assert ours.keys() == theirs.keys()
    worst = max(max(abs(a - b) for a, b in zip(ours[g], theirs[g], strict=True)) for g in ours)
    assert worst < 1e-4


def arpa_dict(path) -> dict:
    words, tables = read_arpa(path)
    out = {}
    names = [(w,) for w in words]
    for n in range(1, tables.order + 1):
        keys = tables.keys[n - 1]
        if n > 1:
            names = [
                names[p] + (words[w],)
                for p, w in zip(keys // tables.base, keys % tables.base, strict=False)
            ]
        for g, p, b in zip(
            names, tables.log10_prob[n - 1], tables.log10_backoff[n - 1], strict=False
        ):
            out[g] = (p, b)
    return out


# -- an independent, deliberately naive reference (dicts, recursion, textbook formulas) ----
def naive_model(sentences, order, method, k=1.0):
    vocab = sorted({w for s in sentences for w in s} | {"</s>", "<unk>"})  # <unk>: a zeroton
    counts = [Counter() for _ in range(order + 1)]
    for s in sentences:
        padded = ["<s>", *s, "</s>"]
        for t in range(1, len(padded)):
            for n in range(1, order + 1):
                if t - n + 1 >= 0:
                    counts[n][tuple(padded[t - n + 1 : t + 1])] += 1
    V = len(vocab)
    if method == "add-k":

        def prob(w, h):
            h = h[-(order - 1) :] if order > 1 else ()
            c_h = sum(c for g, c in counts[len(h) + 1].items() if g[:-1] == h)
            return (counts[len(h) + 1][(*h, w)] + k) / (c_h + k * V)

        return vocab, prob
    left = defaultdict(set)  # continuation counts for KN
    for n in range(2, order + 1):
        for g in counts[n]:
            left[g[1:]].add(g[0])

    def a(g):
        if len(g) == order or g[0] == "<s>" or method == "wb":
            return counts[len(g)][g]
        return len(left[g])

    def prob(w, h):
        h = h[-(order - 1) :] if order > 1 else ()
        lower = prob(w, h[1:]) if h else 1.0 / V
        grams = [g for g in counts[len(h) + 1] if g[:-1] == h]
        total = sum(a(g) for g in grams)
        if total == 0:
            return lower
        if method == "wb":
            types = len(grams)
            return (a((*h, w)) + types * lower) / (total + types)
        n1 = sum(1 for g in counts[len(h) + 1] if a(g) == 1)
        n2 = sum(1 for g in counts[len(h) + 1] if a(g) == 2)
        d = n1 / (n1 + 2 * n2)
        c = a((*h, w))
        return max(c - d, 0) / total + d * len(grams) / total * lower

    return vocab, prob


TOY = [
    s.split()
    for s in [
        "the cat sat on the mat",
        "the dog sat on the log",
        "a cat saw the dog",
        "the dog saw a cat on the mat",
        "a dog sat",
        "the cat sat",
        "on the mat the cat sat",
        "a log",
        "the mat",
        "the cat saw a dog on a log",
    ]
]


@pytest.mark.parametrize("method", ["kn", "wb", "add-k"])
def test_smoothing_matches_a_naive_reference(method):
    text = "\n".join(" ".join(s) for s in TOY) + "\n"
    builder = VocabBuilder(1000)
    tokens = text.replace("\n", f" {EOS} ").split()
    builder.add(tokens)
    vocab, ids = builder.finish("word")
    model = NgramLM.train(ids, vocab, 3, method, k=0.5)
    _, prob = naive_model(TOY, 3, method, k=0.5)
    probe = "the cat sat on a dog\nlog saw the the mat\n".replace("\n", f" {EOS} ").split()
    ours = model.log_probs(vocab.encode(probe))
    expected, history = [], ["<s>"]
    for w in probe:
        w = "</s>" if w == EOS else w
        expected.append(math.log(prob(w, tuple(history))))
        history = ["<s>"] if w == "</s>" else [*history, w]
    np.testing.assert_allclose(ours, expected, rtol=1e-9)


@pytest.mark.parametrize("method", ["mkn", "kn", "wb", "add-k"])
def test_every_context_sums_to_one(method):
    corpus = load_corpus("synthetic:train_tokens=30000,valid_tokens=2000,test_tokens=2000")
    model = NgramLM.train(corpus["train"], corpus.vocab, 4, method)
    rng = np.random.default_rng(0)
    seen = np.asarray(corpus["valid"])
    contexts = [seen[i : i + rng.integers(0, 5)] for i in rng.integers(0, 1500, 20)]
    contexts += [rng.integers(0, len(corpus.vocab), rng.integers(1, 5)) for _ in range(20)]
    for context in contexts:
        total = np.exp(model.next_log_probs(model.start(context))).sum()
        assert total == pytest.approx(1.0, abs=1e-9)


def test_next_token_distribution_agrees_with_scoring(ptb, ptb3):
    ids = np.asarray(ptb["valid"][:60])
    scored = ptb3.log_probs(ids)
    state = ptb3.start()
    for t, token in enumerate(ids):
        assert ptb3.next_log_probs(state)[token] == pytest.approx(scored[t], abs=1e-9)
        state = ptb3.advance(state, int(token))


def test_maximum_likelihood_is_infinite_on_unseen_events():
    corpus = load_corpus("synthetic:train_tokens=5000,valid_tokens=2000,test_tokens=2000")
    model = NgramLM.train(corpus["train"], corpus.vocab, 3, "ml")
    result = evaluate(model, corpus, "test")
    assert result.perplexity is None and result.zero_probability_tokens > 0
    seen = NgramLM.train(corpus["train"], corpus.vocab, 1, "ml")
    assert evaluate(seen, corpus, "train").perplexity > 1


def test_arpa_round_trip_and_gzip(tmp_path):
    corpus = load_corpus(SMALL_2K)
    model = NgramLM.train(corpus["train"], corpus.vocab, 4)
    model.save(tmp_path / "m")
    again = NgramLM.load(tmp_path / "m")
    np.testing.assert_allclose(
        again.log_probs(corpus["test"]), model.log_probs(corpus["test"]), atol=1e-6
    )
    from seqlm.ngram import write_arpa

    write_arpa(model.tables, model.arpa_words(), tmp_path / "m.arpa.gz")
    gz = NgramLM.from_arpa(tmp_path / "m.arpa.gz")
    np.testing.assert_allclose(
        gz.log_probs(gz.encode(corpus.vocab.decode(corpus["test"]))),
        model.log_probs(corpus["test"]),
        atol=1e-6,
    )


@pytest.mark.parametrize(
    "text, message",
    [
        ("hello\n", "no \\\\data\\\\ section"),
        ("\\data\\\nngram 1=2\n\n\\1-grams:\n-1\ta\n\\end\\\n", "header says 2, found 1"),
        ("\\data\\\nngram 1=1\n\n\\1-grams:\n-x\ta\n\\end\\\n", "bad number"),
        ("\\data\\\nngram 1=1\nngram 2=1\n\n\\1-grams:\n-1\ta\n\\end\\\n", "expected \\\\2-grams"),
        ("\\data\\\nngram 1=1\n\n\\1-grams:\n-1\ta\n", "expected \\\\end"),
        (
            "\\data\\\nngram 1=1\nngram 2=1\n\n\\1-grams:\n-1\ta\t0\n\n\\2-grams:\n-1\ta b\n\\end\\\n",
            "not a unigram",
        ),
    ],
)
def test_malformed_arpa_is_named_with_its_line(tmp_path, text, message):
    path = tmp_path / "bad.arpa"
    path.write_text(text)
    with pytest.raises(SeqlmError, match=message) as info:
        NgramLM.from_arpa(path)
    assert "bad.arpa" in str(info.value)


def test_bad_orders_and_empty_corpus():
    vocab = Vocab(["a", EOS, "<unk>"])
    with pytest.raises(SeqlmError, match="order"):
        NgramLM.train(np.array([0, 1]), vocab, 0)
    with pytest.raises(SeqlmError, match="order"):
        NgramLM.train(np.array([0, 1]), vocab, 99)
    with pytest.raises(SeqlmError, match="empty"):
        NgramLM.train(np.array([], dtype=np.int32), vocab, 3)
