"""n-grams at KenLM's scale: seqlm with a memory budget against `lmplz -S`, on N tokens.

    python bench/ngram_scale.py [--tokens 100000000] [--orders 3 5] [--memory 1G]
                                [--workdir DIR] [--kenlm DIR/bin]

The corpus is real text recombined: the lines of PTB's training split and of Tiny
Shakespeare, drawn at random and each line's words shuffled (seeded), so n-grams do not
just repeat (10M tokens give ~2.6 distinct n-grams of orders 1-5 per token, as in
ANCHORS.md's KenLM table). A held-out set is drawn the same way from words the training
part contains (no OOVs, so both tools count the same tokens). The vocabulary is the words
training saw, as lmplz's is. For each order, in fresh processes:

- seqlm: `NgramLM.train(memory=...)`, saved in the binary format: build and save time,
  peak RSS (the process and its counting workers together: summed PSS polled from /proc,
  and at least the process's own ru_maxrss), bytes
  per token, model size; then a fresh process loads it (`NgramLM.load`; Python's
  import of seqlm is shown apart) and scores the held-out set (tokens/s with the pages
  cold, then again warm; perplexity);
- KenLM (if `lmplz` is found: --kenlm, $PATH, ~/.cache/kenlm/bin): `lmplz -S` (time, peak
  RSS), `build_binary`, and `query` on the held-out set from the binary (load + scoring).

Needs $SEQLM_DATA (PTB and Tiny Shakespeare). Figures go to stdout; run it niced.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# the project's data beside the checkout unless $SEQLM_DATA says otherwise
os.environ.setdefault("SEQLM_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data"))

CHILD_BUILD = r"""
import json, resource, sys, time
import numpy as np
from seqlm.data.vocab import Vocab
from seqlm.ngram import NgramLM
work, order, memory, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ids = np.load(f"{work}/train.npy", mmap_mode="r")
vocab = Vocab.load(f"{work}/vocab.json")
t = time.perf_counter(); model = NgramLM.train(ids, vocab, order, memory=memory, workdir=work)
build = time.perf_counter() - t
t = time.perf_counter(); model.save(out); save = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"build_s": build, "save_s": save, "peak": peak, "ngrams": model.info["ngrams"]}))
"""

CHILD_SCORE = r"""
import json, math, sys, time
import numpy as np
t = time.perf_counter()
from seqlm.ngram import NgramLM
imports = time.perf_counter() - t
t = time.perf_counter(); model = NgramLM.load(sys.argv[1]); load = time.perf_counter() - t
test = np.load(sys.argv[2])
t = time.perf_counter(); log10p = model.log10_probs(test); score = time.perf_counter() - t
t = time.perf_counter(); model.log10_probs(test); warm = time.perf_counter() - t
print(json.dumps({"load_s": load, "import_s": imports, "score_tok_s": len(test) / score,
                  "warm_tok_s": len(test) / warm, "ppl": 10 ** -float(log10p.mean())}))
"""


def parse_size(text: str) -> int:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMG]?)", text.upper())
    if not m:
        raise SystemExit(f"bad size {text!r} (e.g. 1G, 500M)")
    return int(float(m.group(1)) * {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}[m.group(2)])


def source_lines(data: Path) -> list[list[str]]:
    ptb = (data / "ptb" / "train.txt").read_text().splitlines()
    shakespeare = (data / "tinyshakespeare" / "input.txt").read_text().lower().splitlines()
    return [line.split() for line in ptb + shakespeare if line.split()]


def build_corpus(work: Path, tokens: int, seed: int = 0) -> tuple[int, int]:
    """train.npy / test.npy (ids, <eos> after each line), vocab.json, train.txt / test.txt;
    kept from an earlier run in the same directory when it was made with these settings."""
    from seqlm.data.vocab import Vocab

    made = work / "corpus.json"
    wanted = {"tokens": tokens, "seed": seed}
    if made.exists() and json.loads(made.read_text()).get("request") == wanted:
        return tuple(json.loads(made.read_text())["sizes"])

    lines = source_lines(Path(os.environ["SEQLM_DATA"]))
    words = sorted({w for line in lines for w in line})
    tokens_list = [*words, "<eos>"] + ([] if "<unk>" in words else ["<unk>"])
    vocab = Vocab(tokens_list)
    eos = vocab.stoi["<eos>"]
    flat = np.array([vocab.stoi[w] for line in lines for w in line], dtype=np.int32)
    length = np.array([len(line) for line in lines], dtype=np.int64)
    start = np.cumsum(length) - length
    rng = np.random.default_rng(seed)

    def draw(n_tokens: int) -> np.ndarray:
        picks = rng.integers(0, len(lines), int(n_tokens / (length.mean() + 1) * 1.05) + 10)
        sizes = length[picks]
        line_of = np.repeat(np.arange(len(picks)), sizes)
        offset = np.arange(len(line_of)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        order = np.lexsort((rng.random(len(line_of)), line_of))  # shuffle within lines
        body = flat[np.repeat(start[picks], sizes) + offset][order]
        out = np.empty(len(body) + len(picks), dtype=np.int32)  # a word run, then <eos>
        ends = np.cumsum(sizes + 1) - 1
        mask = np.ones(len(out), bool)
        mask[ends] = False
        out[mask], out[ends] = body, eos
        cut = np.flatnonzero(out[: n_tokens + 1] == eos)
        return out[: cut[-1] + 1] if len(cut) else out

    parts, left = [], tokens
    while left > 0:  # in pieces: the drawing's temporaries are ~40 bytes per token
        parts.append(draw(min(left, 10_000_000)))
        left -= len(parts[-1])
    train = np.concatenate(parts)
    del parts
    seen = np.bincount(train, minlength=len(vocab)) > 0
    test = draw(120_000)
    line_id = np.cumsum(np.concatenate([[0], test[:-1] == eos]))
    ok = np.bincount(line_id, weights=~seen[test], minlength=line_id[-1] + 1) == 0
    test = test[ok[line_id]]
    # the vocabulary is what training saw (as lmplz's is): the uniform share is 1/|seen|
    seen[vocab.stoi["<unk>"]] = True
    keep = np.flatnonzero(seen)
    remap = np.full(len(vocab), -1, np.int32)
    remap[keep] = np.arange(len(keep))
    vocab = Vocab([vocab.tokens[i] for i in keep])
    vocab.save(work / "vocab.json")
    train, test = remap[train], remap[test]
    np.save(work / "train.npy", train)
    np.save(work / "test.npy", test)
    names = np.array(["UNKWORD" if t == "<unk>" else t for t in vocab.tokens], dtype=object)
    for split, ids in (("train", train), ("test", test)):
        ends = np.flatnonzero(ids == vocab.stoi["<eos>"]) + 1  # pieces end after a line
        at = np.searchsorted(ends, np.arange(5_000_000, len(ids), 5_000_000))
        cuts = np.unique(ends[np.minimum(at, len(ends) - 1)])
        with open(work / f"{split}.txt", "w") as f:
            for lo, hi in zip([0, *cuts.tolist()], [*cuts.tolist(), len(ids)], strict=True):
                text = " ".join(names[ids[lo:hi]].tolist())
                f.write(text.replace(" <eos> ", "\n").replace(" <eos>", "\n"))
    made.write_text(json.dumps({"request": wanted, "sizes": [len(train), len(test)]}))
    return len(train), len(test)


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (worker processes too), as
    their summed proportional set size: a file page mapped by two processes counts once."""
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        rss = int(re.findall(r"^Pss:\s+(\d+)", rollup, re.M)[0]) * 1024
        children = []
        for task in Path(f"/proc/{pid}/task").iterdir():
            children += (task / "children").read_text().split()
    except (OSError, IndexError):
        return 0
    return rss + sum(tree_rss(int(c)) for c in children)


def run_child(code: str, *args: str) -> dict:
    """The child's JSON line, with `tree_peak`: its peak RSS with its workers, polled."""
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss(proc.pid))
        time.sleep(0.02)
    out, err = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"child failed:\n{err}")
    result = json.loads(out.strip().splitlines()[-1])
    result["tree_peak"] = max(peak, result.get("peak", 0))
    return result


def timed(cmd: list[str], stdin=None, stdout=None) -> tuple[float, int, str]:
    """(wall seconds, peak RSS bytes, stderr) of a command, via GNU time's %M."""
    t = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "MAXRSS %M", *cmd],
        stdin=stdin,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - t
    rss = int(re.findall(r"MAXRSS (\d+)", proc.stderr)[-1]) * 1024
    return wall, rss, proc.stderr


def find_kenlm(hint: str | None) -> Path | None:
    for d in [
        hint,
        os.path.dirname(shutil.which("lmplz") or ""),
        str(Path.home() / ".cache" / "kenlm" / "bin"),
    ]:
        if d and (Path(d) / "lmplz").exists():
            return Path(d)
    return None


def kenlm_arm(bin_dir: Path, work: Path, order: int, memory: str, test_tokens: int) -> dict:
    arpa, binary = work / f"kenlm{order}.arpa", work / f"kenlm{order}.bin"
    with open(work / "train.txt") as src, open(arpa, "w") as dst:
        build, peak, _ = timed(
            [str(bin_dir / "lmplz"), "-o", str(order), "-S", memory], stdin=src, stdout=dst
        )
    subprocess.run(
        [str(bin_dir / "build_binary"), str(arpa), str(binary)], check=True, capture_output=True
    )
    with open(os.devnull, "w") as null, open(os.devnull) as empty:
        load, _, _ = timed([str(bin_dir / "query"), "-v", "summary", str(binary)], empty, null)
    with open(work / "test.txt") as src:
        t = time.perf_counter()
        out = subprocess.run(
            [str(bin_dir / "query"), "-v", "summary", str(binary)],
            stdin=src,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        total = time.perf_counter() - t
    ppl = float(re.findall(r"Perplexity including OOVs:\s*([\d.]+)", out)[0])
    result = {
        "build_s": build,
        "peak": peak,
        "arpa_mb": arpa.stat().st_size / 1e6,
        "model_mb": binary.stat().st_size / 1e6,
        "load_s": load,
        "ppl": ppl,
        "score_tok_s": test_tokens / max(total - load, 1e-9),
    }
    arpa.unlink()
    binary.unlink()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=float, default=100e6, help="training tokens")
    parser.add_argument("--orders", type=int, nargs="+", default=[3, 5])
    parser.add_argument("--memory", default="1G", help="seqlm budget and lmplz -S (1G)")
    parser.add_argument("--workdir", help="where the corpus and models go (default: a temp dir)")
    parser.add_argument(
        "--kenlm", help="directory holding lmplz, build_binary, query ('none': seqlm only)"
    )
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="ngram-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    n_train, n_test = build_corpus(work, int(args.tokens))
    print(
        f"corpus: {n_train:,} training tokens, {n_test:,} held-out tokens "
        f"({time.perf_counter() - t:.0f} s to build or reuse) in {work}"
    )
    kenlm = None if args.kenlm == "none" else find_kenlm(args.kenlm)
    if kenlm is None and args.kenlm != "none":
        print("KenLM's lmplz not found (--kenlm DIR): KenLM rows skipped")
    print(
        f"{'tool':<7}{'order':>5}{'build s':>9}{'peak GB':>9}{'B/token':>9}{'model MB':>10}"
        f"{'load s':>8}{'Mtok/s':>8}{'perplexity':>12}"
    )
    for order in args.orders:
        out = work / f"seqlm{order}"
        b = run_child(CHILD_BUILD, str(work), str(order), str(parse_size(args.memory)), str(out))
        s = run_child(CHILD_SCORE, str(out), str(work / "test.npy"))
        size = sum(f.stat().st_size for f in out.iterdir()) / 1e6
        print(
            f"{'seqlm':<7}{order:>5}{b['build_s']:>9.1f}{b['tree_peak'] / 1e9:>9.2f}"
            f"{b['tree_peak'] / n_train:>9.0f}{size:>10.0f}{s['load_s']:>8.3f}"
            f"{s['score_tok_s'] / 1e6:>8.2f}{s['ppl']:>12.4f}"
            f"   (+{b['save_s']:.1f} s save, +{s['import_s']:.2f} s import before load; "
            f"{s['warm_tok_s'] / 1e6:.2f}M tok/s scoring again, pages warm; "
            f"n-grams {b['ngrams']})"
        )
        shutil.rmtree(out)
        if kenlm is not None:
            k = kenlm_arm(kenlm, work, order, args.memory, n_test)
            print(
                f"{'lmplz':<7}{order:>5}{k['build_s']:>9.1f}{k['peak'] / 1e9:>9.2f}"
                f"{k['peak'] / n_train:>9.0f}{k['model_mb']:>10.0f}{k['load_s']:>8.3f}"
                f"{k['score_tok_s'] / 1e6:>8.2f}{k['ppl']:>12.4f}"
                f"   (ARPA {k['arpa_mb']:.0f} MB; model = build_binary probing)"
            )
            rel = abs(s["ppl"] / k["ppl"] - 1)
            print(
                f"      order {order}: build time ratio {b['build_s'] / k['build_s']:.2f}x, "
                f"perplexity relative difference {rel:.1e}"
            )


if __name__ == "__main__":
    main()
