"""The compiled n-gram kernels (`seqlm.ngram.fast`, Numba) give the NumPy path's numbers
bit for bit, and `seqlm.ngram.Model` scores as the `kenlm` module does."""

import numpy as np
import pytest

from seqlm.data.vocab import Vocab
from seqlm.io import SeqlmError
from seqlm.ngram import Model, NgramLM, fast

pytest.importorskip("numba")


@pytest.fixture
def numpy_path(monkeypatch):
    """A context switch: inside, the fallback runs (what SEQLM_NUMBA=0 selects)."""

    class Switch:
        def __enter__(self):
            monkeypatch.setattr(fast, "USE", False)

        def __exit__(self, *exc):
            monkeypatch.setattr(fast, "USE", True)

    monkeypatch.setattr(fast, "USE", True)
    return Switch()


def random_model(
    seed: int, order: int, words: int = 40, tokens: int = 3000, unk: bool = True
) -> NgramLM:
    """A model of random sentences (Zipf-like word choice: many n-grams seen once)."""
    rng = np.random.default_rng(seed)
    vocab = Vocab([f"w{i}" for i in range(words)] + ["<unk>", "<eos>"])
    weights = 1.0 / np.arange(1, words + 3)
    ids = rng.choice(words + 2, size=tokens, p=weights / weights.sum())
    if not unk:
        ids[ids == vocab.unk_id] = 0
    ids[-1] = vocab.sentence_end()
    return NgramLM.train(ids, vocab, order, smoothing=["mkn", "kn", "wb"][seed % 3])


def stream(model: NgramLM, seed: int, size: int = 2000) -> np.ndarray:
    """Test text: words the model knows, `<unk>` and sentence ends, some sentences long."""
    rng = np.random.default_rng(seed + 100)
    return rng.integers(0, len(model.vocab), size)


@pytest.mark.parametrize("order", [1, 2, 3, 5])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stream_scores_equal_numpy_bit_for_bit(order, seed, numpy_path, tmp_path):
    model = random_model(seed, order)
    ids = stream(model, seed)
    compiled = model.log10_probs(ids)
    with numpy_path:
        reference = model.log10_probs(ids)
    assert np.array_equal(compiled, reference)
    # the same tables mapped from a model directory, exact and 8-bit quantised
    for quantize in (None, 8):
        saved = NgramLM.load(model.save(tmp_path / f"q{quantize}", quantize=quantize))
        compiled = saved.log10_probs(ids)
        with numpy_path:
            reference = saved.log10_probs(ids)
        assert np.array_equal(compiled, reference)
        if quantize is None:
            assert np.allclose(compiled, model.log10_probs(ids), atol=1e-6)  # float32 on disk


def test_closed_vocabulary_arpa_unk_is_log_zero(numpy_path, tmp_path):
    """An ARPA without `<unk>`: unseen words get log10 p = -inf on both paths."""
    model = random_model(3, 3, unk=False)
    arpa = tmp_path / "m.arpa"
    model.write_arpa(arpa)
    text = arpa.read_text().splitlines()
    drop = [i for i, line in enumerate(text) if line.split("\t")[1:2] == ["<unk>"]]
    text = [line for i, line in enumerate(text) if i not in drop]
    text = [
        f"ngram 1={int(line[8:]) - 1}" if line.startswith("ngram 1=") else line for line in text
    ]
    arpa.write_text("\n".join(text) + "\n")
    closed = NgramLM.from_arpa(arpa)
    ids = stream(closed, 3)
    compiled = closed.log10_probs(ids)
    with numpy_path:
        reference = closed.log10_probs(ids)
    assert np.array_equal(compiled, reference)
    assert np.isneginf(compiled[ids == closed.vocab.unk_id]).all()


SENTENCES = [
    "",
    "w1",
    "w0 w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 w11",
    "w3 zyzzyva w3 w3 <unk> w2",  # an unknown word and a literal <unk>
    "w2 </s> w4 <s> w5",  # sentence markers inside the text
    " ".join(f"w{i % 7}" for i in range(60)),
]


@pytest.mark.parametrize("order", [1, 3, 5])
def test_sentence_scores_equal_numpy(order, numpy_path, tmp_path):
    model = random_model(order, order)
    api = Model(model.save(tmp_path / "m", quantize=8 if order == 5 else None))
    for sentence in SENTENCES:
        for bos in (True, False):
            for eos in (True, False):
                compiled = list(api.full_scores(sentence, bos=bos, eos=eos))
                score = api.score(sentence, bos=bos, eos=eos)
                with numpy_path:
                    reference = list(api.full_scores(sentence, bos=bos, eos=eos))
                    reference_score = Model.score(api, sentence, bos=bos, eos=eos)
                assert compiled == reference  # log10 p, matched length, OOV: exactly
                assert score == pytest.approx(reference_score, rel=1e-12, abs=1e-12)
                assert len(compiled) == len(sentence.split()) + eos


def test_scores_equal_the_kenlm_module(tmp_path):
    """The `kenlm` module (KenLM's own Python binding) on the same ARPA, to 1e-4."""
    kenlm = pytest.importorskip("kenlm")
    model = random_model(4, 4, words=60, tokens=5000)
    arpa = model.write_arpa(tmp_path / "m.arpa")
    ours, theirs = Model(arpa), kenlm.Model(str(arpa))
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(60)] + ["zyzzyva"]
    for _ in range(200):
        sentence = " ".join(rng.choice(words, rng.integers(0, 30)))
        for bos, eos in ((True, True), (False, True), (True, False), (False, False)):
            assert ours.score(sentence, bos=bos, eos=eos) == pytest.approx(
                theirs.score(sentence, bos=bos, eos=eos), abs=1e-4
            )
        got = list(ours.full_scores(sentence))
        want = list(theirs.full_scores(sentence))
        assert [n for _, n, _ in got] == [n for _, n, _ in want]
        assert np.allclose([p for p, _, _ in got], [p for p, _, _ in want], atol=1e-4)


def test_ascii_sentences_split_and_looked_up_compiled_as_str_split(numpy_path, tmp_path):
    """`Model.score` splits an ASCII sentence and finds its words compiled (`fast_words.Lexicon`):
    the same words as `str.split` and the vocabulary dict, whatever the whitespace, words
    longer than 8 bytes or sharing their first 8, and words the model does not know."""
    rng = np.random.default_rng(5)
    names = ["abcdefgh", "abcdefgh1", "abcdefgh2", "abcdefghij-long-word", "x", "y.", "<unk>"]
    vocab = Vocab([*names, "<eos>"])
    ids = rng.integers(0, len(vocab), 4000)
    ids[-1] = vocab.sentence_end()
    api = Model(NgramLM.train(ids, vocab, 3, smoothing="mkn").save(tmp_path / "m"))
    spaces = [" ", "  ", "\t", "\n", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f"]
    known = [*names, "</s>", "<s>", "<eos>", "abcdefg", "abcdefgh3", "abcdefghij-long-wore"]
    for _ in range(300):
        words = rng.choice(known, rng.integers(0, 12))
        gaps = rng.choice(spaces, len(words) + 1)
        sentence = "".join(g + w for g, w in zip(gaps, [*words, ""], strict=True))
        for bos, eos in ((True, True), (False, True), (True, False)):
            compiled = api.score(sentence, bos=bos, eos=eos)
            split = fast.total(api._tables, api._words(sentence), bos, api._eos(eos))
            assert compiled == split  # the same ids, so the same kernel result
            with numpy_path:
                # the class's method: the instance's `score` goes to the kernel bound at load
                fallback = Model.score(api, sentence, bos=bos, eos=eos)
                assert compiled == pytest.approx(fallback, abs=1e-12)
    # not ASCII: str.split's Unicode whitespace (here a no-break space) on the other path
    assert api.score("x\u00a0y.") == api.score("x y.")
    assert api.score("x\u00e9 y.") == api.score("zzz y.")  # unknown either way


def test_hash_tables_hold_every_ngram():
    """`fast.Packed`: every n-gram of the model is found in its order's table with its
    own log10 p (many collisions: 1.5 slots per n-gram)."""
    model = random_model(1, 4, words=30, tokens=20000)
    packed = fast.Packed(model.tables)
    t = model.tables
    for n in range(2, model.order + 1):
        keys = np.asarray(t.keys[n - 1])
        probs = np.asarray(t.log10_prob[n - 1])
        # the scores of the n-grams themselves, through the kernel: a sentence per n-gram
        words = [_ngram_words(t, n, k) for k in keys[:300]]
        for gram, prob in zip(words, probs, strict=False):
            ids = np.array(gram, np.int64)
            out, length = np.empty(len(ids)), np.empty(len(ids), np.int64)
            fast._run(ids, packed.address, packed.size, packed.proto, packed.base,
                      packed.bos, -1, -1, False, out, length, True,
                      *fast._state(model.order), packed.closed)  # fmt: skip
            assert length[-1] == n and out[-1] == np.float64(prob)
    assert packed.nbytes == sum(8 * packed.slots[n - 1].shape[0] for n in range(2, model.order + 1))


def test_hash_tables_saved_with_the_model_are_mapped(numpy_path, tmp_path):
    """A saved model holds the kernels' hash tables: a load maps them (as KenLM maps its
    probing binary) and scores as the tables built in memory do, quantised or not; a table
    of the wrong size is refused."""
    model = random_model(0, 4, words=30, tokens=6000)
    ids = stream(model, 0)
    for quantize in (None, 8):
        directory = model.save(tmp_path / f"q{quantize}", quantize=quantize)
        mapped = NgramLM.load(directory)
        assert [type(t) for t in mapped.tables.probing] == [np.memmap] * 3
        built = NgramLM.load(directory)
        built.tables.probing = []
        assert np.array_equal(mapped.log10_probs(ids), built.log10_probs(ids))
        with numpy_path:
            assert np.array_equal(mapped.log10_probs(ids), built.log10_probs(ids))
    table = np.load(directory / "ngram3.probing.npy")
    np.save(directory / "ngram3.probing.npy", table[:-2])
    with pytest.raises(SeqlmError, match="ngram3.probing.npy"):
        NgramLM.load(directory)


def test_a_model_missing_a_suffix_is_scored_in_full(numpy_path, tmp_path):
    """The kernels stop at the first order not found only in a suffix-closed model (every
    n-gram's last n-1 words are an n-gram too: trained ones are); an ARPA without a
    trigram's suffix bigram still has the trigram found, as on the NumPy path."""
    model = random_model(2, 3, words=12, tokens=4000)
    # found when saved (or read from an ARPA) and written with the model
    loaded = NgramLM.load(model.save(tmp_path / "d"))
    assert loaded.tables.suffix_closed is True and fast.Packed(loaded.tables).closed == 1
    lines = model.write_arpa(tmp_path / "m.arpa").read_text().splitlines()
    grams = {n: [ln.split("\t")[1].split() for ln in lines if ln.count(" ") == n - 1
                 and ln.count("\t") >= 1 and not ln.startswith("ngram")] for n in (2, 3)}  # fmt: skip
    contexts = {tuple(g[:2]) for g in grams[3]}
    suffixes = {tuple(g[1:]) for g in grams[3]}
    # a bigram that ends a trigram but begins none: the ARPA stays well formed without it
    drop = next(b for b in map(tuple, grams[2]) if b in suffixes and b not in contexts)
    kept = [ln for ln in lines if not ln.startswith(f"{drop[0]} {drop[1]}\t", ln.find("\t") + 1)]
    kept = [f"ngram 2={len(grams[2]) - 1}" if ln.startswith("ngram 2=") else ln for ln in kept]
    (tmp_path / "open.arpa").write_text("\n".join(kept) + "\n")
    assert NgramLM.from_arpa(tmp_path / "m.arpa").tables.suffix_closed is True
    api = Model(tmp_path / "open.arpa")
    assert api.lm.tables.suffix_closed is False and fast.packed(api.lm.tables).closed == 0
    trigram = " ".join(next(g for g in grams[3] if tuple(g[1:]) == drop))
    got = list(api.full_scores(trigram, bos=False, eos=False))
    assert got[-1][1] == 3  # the trigram, though its suffix bigram is absent
    with numpy_path:
        assert list(api.full_scores(trigram, bos=False, eos=False)) == got
    ids = stream(api.lm, 7)
    compiled = api.lm.log10_probs(ids)
    with numpy_path:
        assert np.array_equal(compiled, api.lm.log10_probs(ids))


def _ngram_words(tables, n: int, key: int) -> list[int]:
    """The word ids of the n-gram with this key (prefix index * base + word)."""
    words = []
    for m in range(n, 1, -1):
        prefix, word = divmod(int(key), tables.base)
        words.append(word)
        key = np.asarray(tables.keys[m - 2])[prefix]
    return [int(key), *reversed(words)]
