"""n-gram scoring speed side by side with KenLM, same 5-gram, one core each.

    bash ../shared/tools/build-kenlm.sh          # KenLM's lmplz, build_binary, query
    pip install kenlm 'numba>=0.60'              # the kenlm module; seqlm's compiled path
    taskset -c 1 python bench/ngram_speed.py [--repeats 3]

Builds PTB's 5-gram with lmplz (PTB's `<unk>` renamed UNKWORD, KenLM's convention),
build_binary's probing model and `seqlm ngram convert`'s directory, then times, as CPU
seconds of one process pinned to one core (the machine is shared: wall time is noisy):
KenLM `query` (load included) on the binary and on the ARPA, the `kenlm` module's
`score()` line by line, seqlm's `Model.score` line by line, seqlm's bulk `log10_probs`
(PTB test x10; seqlm's load maps the hash tables saved in its directory, as KenLM maps
its binary), and loading the ARPA (query on empty input vs `NgramLM.from_arpa`).
Medians of the repeats; ratios are seqlm / KenLM speed (>1: seqlm faster).

    taskset -c 1 python bench/ngram_speed.py --repeats 1 --model-tokens 100e6 --workdir /tmp/ns100

does the same with the 5-gram of bench/ngram_scale.py's 100M-token corpus (an 8.8 GB
ARPA; ~15 minutes the first time, the corpus and models kept in --workdir).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(os.environ.get("SEQLM_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
KENLM = Path(os.environ.get("KENLM_BIN", Path.home() / ".cache" / "kenlm" / "bin"))


def child_cpu(cmd: list[str], stdin: Path) -> float:
    """CPU seconds (user + sys) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(stdin, "rb") as f:
        subprocess.run(
            cmd, stdin=f, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True
        )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def cpu(fn) -> float:
    t = time.process_time()
    fn()
    return time.process_time() - t


def median(fn, repeats: int) -> float:
    return statistics.median(fn() for _ in range(repeats))


def lmplz(work: Path) -> None:
    """ptb5.arpa (lmplz -o 5 on train.txt), ptb5.binary (probing) and seqlm's ptb5.seqlm."""
    from seqlm.ngram import convert

    arpa, binary = work / "ptb5.arpa", work / "ptb5.binary"
    if not binary.exists():
        with open(work / "train.txt", "rb") as f, open(arpa, "wb") as out:
            subprocess.run([KENLM / "lmplz", "-o", "5", "-S", "4G", "-T", str(work)], stdin=f,
                           stdout=out, stderr=subprocess.DEVNULL, check=True)  # fmt: skip
        subprocess.run([KENLM / "build_binary", arpa, binary], capture_output=True, check=True)
    if not (work / "ptb5.seqlm").exists():
        convert(arpa, work / "ptb5.seqlm")


def prepare_ptb() -> Path:
    work = Path(tempfile.mkdtemp(prefix="ngram-speed-"))
    for split in ("train", "test"):
        text = (DATA / "ptb" / f"{split}.txt").read_text().replace("<unk>", "UNKWORD")
        (work / f"{split}.txt").write_text(text)
    (work / "test10.txt").write_text((work / "test.txt").read_text() * 10)
    lmplz(work)
    return work


def prepare_scale(args) -> Path:
    """bench/ngram_scale.py's corpus of `--model-tokens` tokens in `--workdir` (kept there
    for a second run), its 5-gram by lmplz, and its ~120K held-out tokens x10 to score."""
    sys.path.insert(0, str(Path(__file__).parent))
    from ngram_scale import build_corpus

    work = Path(args.workdir or tempfile.mkdtemp(prefix="ngram-speed-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("SEQLM_DATA", str(DATA))
    build_corpus(work, int(args.model_tokens))
    (work / "test10.txt").write_text((work / "test.txt").read_text() * 10)
    lmplz(work)
    return work


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--model-tokens", type=float, help="the 5-gram of bench/ngram_scale.py's corpus (100e6)"
    )
    parser.add_argument("--workdir", help="where --model-tokens' corpus and models are kept")
    args = parser.parse_args()
    import kenlm

    from seqlm.ngram import Model, NgramLM, fast

    if args.model_tokens:
        work, name = prepare_scale(args), f"{args.model_tokens / 1e6:g}M-token 5-gram"
    else:
        work, name = prepare_ptb(), "PTB 5-gram"
    arpa, binary = work / "ptb5.arpa", work / "ptb5.binary"
    lines = (work / "test10.txt").read_text().splitlines()
    tokens = sum(len(line.split()) + 1 for line in lines)  # </s> counted
    r = args.repeats

    child_cpu([KENLM / "query", binary], work / "test10.txt")  # the files into the page cache
    q_bin = median(lambda: child_cpu([KENLM / "query", binary], work / "test10.txt"), r)
    q_arpa = median(lambda: child_cpu([KENLM / "query", arpa], work / "test10.txt"), r)
    q_load = median(lambda: child_cpu([KENLM / "query", arpa], Path(os.devnull)), r)
    # line by line, each after one pass untimed: kenlm.Model populates its mapping at load,
    # seqlm maps its tables lazily (the first pass's page faults are printed below)
    km = kenlm.Model(str(binary))
    cpu(lambda: [km.score(x, bos=True, eos=True) for x in lines])
    k_score = median(lambda: cpu(lambda: [km.score(x, bos=True, eos=True) for x in lines]), r)

    made = []  # kernels read from Numba's cache (compiled if not there), tables hashed
    first = cpu(lambda: made.append(Model(work / "ptb5.seqlm").score("warm up")))
    ours = Model(work / "ptb5.seqlm")
    s_cold = cpu(lambda: [ours.score(x, bos=True, eos=True) for x in lines])
    s_score = median(lambda: cpu(lambda: [ours.score(x, bos=True, eos=True) for x in lines]), r)
    words = [w for line in lines for w in [*line.split(), "<eos>"]]
    loaded = []

    def load() -> None:  # the model directory mapped, then its hash tables built
        loaded.append(NgramLM.load(work / "ptb5.seqlm"))
        if fast.enabled():
            fast.packed(loaded[-1].tables)

    s_load = median(lambda: cpu(load), r)
    lm = loaded[-1]
    ids = lm.encode(words)
    lm.log10_probs(ids[:10])  # the stream kernel read from Numba's cache
    table_mb = fast.packed(lm.tables).nbytes / 2**20 if fast.enabled() else 0.0
    s_bulk = median(lambda: cpu(lambda: lm.log10_probs(ids)), r)
    ppl = 10 ** -float(lm.log10_probs(ids).mean())
    s_arpa = median(lambda: cpu(lambda: NgramLM.from_arpa(arpa)), r)

    def rate(seconds: float) -> str:
        return f"{tokens / seconds / 1e6:6.2f}M"

    given = f" --model-tokens {args.model_tokens / 1e6:g}e6" if args.model_tokens else ""
    given += f" --workdir {args.workdir}" if args.model_tokens and args.workdir else ""
    print(f"# $ taskset -c 1 python bench/ngram_speed.py --repeats {r}{given}")
    print(
        f"# {name} (lmplz -o 5), {tokens:,} tokens = its test text x10 (</s> counted), perplexity {ppl:.4f}"
    )
    print(
        f"# CPU seconds of one process on one core (user + sys), median of {r}; compiled path (Numba): {'on' if fast.enabled() else 'off'}"
    )
    print("path | CPU s | tokens/s | seqlm / KenLM")
    print(f"KenLM `query`, probing binary, load included | {q_bin:.3f} | {rate(q_bin)} | -")
    print(f"KenLM `query`, ARPA, load included | {q_arpa:.3f} | {rate(q_arpa)} | -")
    print(
        f"seqlm `NgramLM.log10_probs`, whole stream (load {s_load:.3f} s) | {s_bulk:.3f} | {rate(s_bulk)} | {q_bin / (s_bulk + s_load):.2f}x of query on its binary (load included)"
    )
    print(f"`kenlm` module `score()`, line by line | {k_score:.3f} | {rate(k_score)} | -")
    print(
        f"seqlm `ngram.Model.score()`, line by line | {s_score:.3f} | {rate(s_score)} | {k_score / s_score:.2f}x"
    )
    print(
        f"# seqlm `Model.score()`'s first pass in the process (its pages faulted in): {s_cold:.3f} s"
    )
    print(f"ARPA load: KenLM `query` on empty input | {q_load:.3f} | - | -")
    print(
        f"ARPA load: seqlm `NgramLM.from_arpa` | {s_arpa:.3f} | - | {s_arpa / q_load:.2f}x query's time"
    )
    print(
        f"# first Model(dir) and score() in this process (Numba kernels read from cache, hash tables {'mapped' if lm.tables.probing else 'built'}): {first:.2f} s"
    )
    print(
        f"# seqlm's hash tables ({table_mb:.0f} MiB): "
        + (
            "mapped from the model directory, as KenLM's binary"
            if lm.tables.probing
            else "built at load"
        )
    )


if __name__ == "__main__":
    main()
