"""N-best lists: read from JSONL or Kaldi's text form, written back as JSONL.

JSONL: one utterance a line, `{"id": ..., "hypotheses": [{"text": ..., "score": ...}, ...],
"reference": ...}` (`reference` optional; `score`: the first pass's log score, higher is
better, e.g. an acoustic or translation model's log-likelihood).

Kaldi: a directory holding the files that `lattice-to-nbest`, `nbest-to-linear` and
`utils/int2sym.pl` leave for n-best rescoring (`steps/rnnlmrescore.sh` reads the same):
`text` (`UTT-N word word ...`), `ac_cost` (`UTT-N cost`), optionally `lm_cost` (`UTT-N
cost`, the first pass's LM) and `ref` (`UTT word word ...`, Kaldi's `text` of the
references). Costs are negative log-likelihoods: a hypothesis's score is
-(ac_cost + lm_cost). `UTT-N` is the utterance id, a dash and the hypothesis's rank.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from seqlm.io import SeqlmError, atomic_write_text


@dataclass
class Utterance:
    id: str
    texts: list[str]
    scores: list[float]  # first-pass log scores, higher is better
    reference: str | None = None
    extra: dict = field(default_factory=dict)  # per-hypothesis figures added by rescoring


def read_nbest(path: str | os.PathLike, fmt: str = "auto") -> list[Utterance]:
    """Utterances from a JSONL file or a Kaldi n-best directory (`fmt`: auto, jsonl, kaldi)."""
    path = Path(path)
    if not path.exists():
        raise SeqlmError(f"{path}: no such n-best file or directory")
    if fmt == "auto":
        fmt = "kaldi" if path.is_dir() else "jsonl"
    if fmt == "kaldi":
        return _read_kaldi(path)
    if fmt == "jsonl":
        return _read_jsonl(path)
    raise SeqlmError(f"unknown n-best format {fmt!r} (choose from auto, jsonl, kaldi)")


def _read_jsonl(path: Path) -> list[Utterance]:
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{n}"
            try:
                item = json.loads(line)
                hyps = item["hypotheses"]
                texts = [str(h["text"]) for h in hyps]
                scores = [float(h["score"]) for h in hyps]
                uid = str(item["id"])
            except json.JSONDecodeError as e:
                raise SeqlmError(f"{where}: not JSON ({e.msg})") from None
            except (KeyError, TypeError, ValueError) as e:
                raise SeqlmError(
                    f"{where}: expected {{'id', 'hypotheses': [{{'text', 'score'}}]}} ({e!r})"
                ) from None
            if not texts:
                raise SeqlmError(f"{where}: utterance {uid} has no hypotheses")
            ref = item.get("reference")
            out.append(Utterance(uid, texts, scores, None if ref is None else str(ref)))
    if not out:
        raise SeqlmError(f"{path}: no utterances")
    return out


def _kaldi_table(path: Path, numbers: bool) -> dict[str, str | float]:
    table: dict[str, str | float] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        key, _, value = line.strip().partition(" ")
        try:
            table[key] = float(value) if numbers else value.strip()
        except ValueError:
            raise SeqlmError(f"{path}:{n}: expected 'KEY COST', got {line.strip()!r}") from None
    return table


def _read_kaldi(path: Path) -> list[Utterance]:
    for name in ("text", "ac_cost"):
        if not (path / name).is_file():
            raise SeqlmError(f"{path}: a Kaldi n-best directory needs '{name}' (see the docs)")
    texts = _kaldi_table(path / "text", numbers=False)
    ac = _kaldi_table(path / "ac_cost", numbers=True)
    lm = _kaldi_table(path / "lm_cost", numbers=True) if (path / "lm_cost").is_file() else {}
    refs = _kaldi_table(path / "ref", numbers=False) if (path / "ref").is_file() else {}
    utterances: dict[str, Utterance] = {}
    for key, text in texts.items():
        uid, dash, rank = key.rpartition("-")
        if not dash or not rank.isdigit():
            raise SeqlmError(f"{path / 'text'}: {key!r} is not UTT-N (utterance id, dash, rank)")
        if key not in ac:
            raise SeqlmError(f"{path / 'ac_cost'}: no cost for {key}")
        utt = utterances.setdefault(uid, Utterance(uid, [], [], refs.get(uid)))
        utt.texts.append(str(text))
        utt.scores.append(-(float(ac[key]) + float(lm.get(key, 0.0))))
    if not utterances:
        raise SeqlmError(f"{path / 'text'}: no hypotheses")
    return list(utterances.values())


def write_nbest(path: str | os.PathLike, utterances: list[Utterance], order: list[list[int]]):
    """JSONL, each utterance's hypotheses in `order` (best first), with their figures."""
    lines = []
    for utt, ranks in zip(utterances, order, strict=True):
        hyps = [
            {
                "text": utt.texts[i],
                "score": utt.scores[i],
                **{k: v[i] for k, v in utt.extra.items()},
            }
            for i in ranks
        ]
        item = {"id": utt.id, "hypotheses": hyps}
        if utt.reference is not None:
            item["reference"] = utt.reference
        lines.append(json.dumps(item, ensure_ascii=False))
    atomic_write_text(path, "\n".join(lines) + "\n")


__all__ = ["Utterance", "read_nbest", "write_nbest"]
