"""n-gram benchmark: build time, peak memory, ARPA write/read, scoring speed, perplexity.

    pip install nltk   # optional: times NLTK's KneserNeyInterpolated for the ratio
    python bench/ngram.py [--orders 3 5]

Each order runs in a fresh subprocess so its peak memory (ru_maxrss) is its own. The
reference figures are KenLM's (../shared/docs/ANCHORS.md, measured on this machine).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

KENLM = {
    3: {"valid": 157.77, "test": 148.28, "lmplz_s": 1.3},
    5: {"valid": 148.01, "test": 141.19, "lmplz_s": 3.3},
}

# the project's data beside the checkout unless $SEQLM_DATA says otherwise
os.environ.setdefault("SEQLM_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data"))

CHILD = r"""
import json, math, resource, sys, tempfile, time
from pathlib import Path
import numpy as np
from seqlm.data import load_corpus
from seqlm.ngram import NgramLM
order = int(sys.argv[1])
corpus = load_corpus("ptb")
train = np.asarray(corpus["train"])
t = time.perf_counter(); model = NgramLM.train(train, corpus.vocab, order)
build = time.perf_counter() - t
out = {"order": order, "build_s": build, "ngrams": model.info["ngrams"]}
for split in ("valid", "test"):
    out[split] = math.exp(-model.log_probs(corpus[split]).mean())
times = []
for _ in range(3):
    t = time.perf_counter(); model.log_probs(train); times.append(time.perf_counter() - t)
out["score_tok_s"] = len(train) / sorted(times)[1]
with tempfile.TemporaryDirectory() as tmp:
    t = time.perf_counter(); model.save(tmp, arpa=True); out["arpa_write_s"] = time.perf_counter() - t
    out["arpa_mb"] = (Path(tmp) / "model.arpa").stat().st_size / 1e6
    t = time.perf_counter(); NgramLM.from_arpa(Path(tmp) / "model.arpa"); out["arpa_read_s"] = time.perf_counter() - t
out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""

NLTK = r"""
import json, sys, time
from nltk.lm import KneserNeyInterpolated
from nltk.lm.preprocessing import padded_everygram_pipeline
lines = [l.split() for l in open(sys.argv[1]).read().split("\n") if l.strip()]
train, test = lines[:5000], lines[5000:5020]
t = time.perf_counter()
ngrams, vocab = padded_everygram_pipeline(3, train)
lm = KneserNeyInterpolated(3); lm.fit(ngrams, vocab)
fit = time.perf_counter() - t
tokens = [(w, tuple(s[max(0, i - 2):i])) for s in test for i, w in enumerate(s)][:300]
t = time.perf_counter()
for w, ctx in tokens: lm.score(w, ctx)
print(json.dumps({"fit_s": fit, "train_sentences": len(train),
                  "score_tok_s": len(tokens) / (time.perf_counter() - t)}))
"""


def run(code: str, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, nargs="+", default=[3, 5])
    args = parser.parse_args()
    print(
        f"{'order':>5} {'valid':>8} {'KenLM':>8} {'test':>8} {'KenLM':>8} {'build s':>8} "
        f"{'lmplz s':>8} {'peak MB':>8} {'write s':>8} {'read s':>7} {'Mtok/s':>7}"
    )
    for order in args.orders:
        r = run(CHILD, str(order))
        k = KENLM.get(order, {})
        print(
            f"{order:>5} {r['valid']:>8.2f} {k.get('valid', float('nan')):>8.2f} "
            f"{r['test']:>8.2f} {k.get('test', float('nan')):>8.2f} {r['build_s']:>8.2f} "
            f"{k.get('lmplz_s', float('nan')):>8.1f} {r['peak_mb']:>8.0f} "
            f"{r['arpa_write_s']:>8.2f} {r['arpa_read_s']:>7.2f} "
            f"{r['score_tok_s'] / 1e6:>7.2f}"
        )
        print(f"      n-grams by order: {r['ngrams']}; ARPA {r['arpa_mb']:.0f} MB")
    try:
        import nltk  # noqa: F401
    except ImportError:
        print("nltk not installed: skipping the NLTK comparison (pip install nltk)")
        return
    from seqlm.data.download import dataset_files

    _, files = dataset_files("ptb")
    n = run(NLTK, str(files[0]))
    ours = run(CHILD, "3")["score_tok_s"]
    print(
        f"NLTK KneserNeyInterpolated(3) on {n['train_sentences']} PTB sentences: fit "
        f"{n['fit_s']:.1f} s, scoring {n['score_tok_s']:.1f} tokens/s; seqlm 3-gram on all "
        f"of PTB scores {ours:,.0f} tokens/s ({ours / n['score_tok_s']:,.0f}x)"
    )


if __name__ == "__main__":
    main()
