"""N-best rescoring: first-pass score, seqlm models and a length penalty, weights tuned on dev.

Each hypothesis gets total = am + Σ w_i · ln P_i(text, <eos>) + w_len · words, where `am`
is its first-pass log score (its weight is fixed at 1: only the ratios of the weights
change the ranking) and P_i the i-th language model's probability of the whole
hypothesis, the sentence end included. The weights are the grid point with the lowest
WER on the dev list (among equals, the one with the smallest weights); the test list is
only scored with them: WER of the first pass's best, of the rescored best, and the oracle
(the best hypothesis in each list, what no reranking can beat).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from seqlm.evaluate.nbest import Utterance, read_nbest, write_nbest
from seqlm.evaluate.wer import word_errors
from seqlm.interface import LanguageModel
from seqlm.io import SeqlmError
from seqlm.settings import setting


def _grid(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise SeqlmError(f"expected numbers separated by commas, got {text!r}") from None
    if not values:
        raise SeqlmError("a weight grid needs at least one value")
    return values


@dataclass
class RescoreConfig:
    format: str = setting("auto", "n-best format", choices=("auto", "jsonl", "kaldi"))
    lm_weights: str = setting(
        "0,0.1,0.2,0.3,0.5,0.7,1,1.5,2,3",
        "values tried for each model's weight (comma-separated)",
        metavar="W,...",
    )
    length_weights: str = setting(
        "-2,-1,-0.5,0,0.5,1,2", "values tried for the per-word bonus", metavar="W,..."
    )
    out: str | None = setting(None, "write the re-ranked test list here (JSONL)", metavar="FILE")


@dataclass
class ListFigures:
    """WERs of one n-best list (None without references)."""

    utterances: int
    words: int
    before: float | None
    after: float | None
    oracle: float | None


@dataclass
class RescoreResult:
    models: list[str]
    weights: dict[str, float]  # "am" (1), each model's name, "length"
    dev: ListFigures
    test: ListFigures
    out: str | None = None

    def to_json(self) -> dict:
        return {
            "models": self.models,
            "weights": self.weights,
            "dev": vars(self.dev),
            "test": vars(self.test),
            "out": self.out,
        }


def sentence_log_prob(model: LanguageModel, text: str) -> float:
    """ln P(text, <eos>): the hypothesis as a whole line."""
    scores = model.score(text.strip() + "\n")
    if not scores.tokens:  # an empty hypothesis: only the line end
        eos = model.vocab.stoi.get("<eos>", model.vocab.sentence_end())
        return float(model.next_log_probs(model.start())[eos])
    return float(scores.log_probs.sum())


def features(utterances: list[Utterance], models: dict[str, LanguageModel]) -> list[np.ndarray]:
    """Per utterance, (hypotheses, 2 + models): first-pass score, each ln P, words; each
    model's score and the word count are also kept in `extra` for the written list."""
    out = []
    for utt in utterances:
        columns = [np.asarray(utt.scores, dtype=np.float64)]
        for name, model in models.items():
            utt.extra[name] = [sentence_log_prob(model, t) for t in utt.texts]
            columns.append(np.asarray(utt.extra[name]))
        utt.extra["words"] = [len(t.split()) for t in utt.texts]
        columns.append(np.asarray(utt.extra["words"], dtype=np.float64))
        out.append(np.stack(columns, axis=1))
    return out


def _errors(utterances: list[Utterance], where: str) -> list[np.ndarray] | None:
    refs = [u.reference for u in utterances]
    if all(r is None for r in refs):
        return None
    if any(r is None for r in refs):
        missing = next(u.id for u in utterances if u.reference is None)
        raise SeqlmError(f"{where}: utterance {missing} has no reference (all or none must)")
    return [np.array([word_errors(u.reference, t) for t in u.texts]) for u in utterances]


def _wer(errors: list[np.ndarray], picks: list[int], words: int) -> float:
    return float(sum(e[p] for e, p in zip(errors, picks, strict=True))) / max(words, 1)


def _picks(feats: list[np.ndarray], weights: np.ndarray) -> list[int]:
    return [int(np.argmax(f @ weights)) for f in feats]


def tune(
    feats: list[np.ndarray], errors: list[np.ndarray], lm_grid: list[float], len_grid: list[float]
) -> tuple[np.ndarray, int]:
    """The weight vector (am weight 1) with the fewest dev errors, and those errors."""
    n_models = feats[0].shape[1] - 2
    points = np.array(
        [
            (1.0, *lms, length)
            for lms in itertools.product(lm_grid, repeat=n_models)
            for length in len_grid
        ]
    ).T  # (features, points)
    total = np.zeros(points.shape[1])
    for f, e in zip(feats, errors, strict=True):
        total += e[np.argmax(f @ points, axis=0)]
    # among equally good points, the smallest weights (no weight that changes nothing)
    best = min(range(points.shape[1]), key=lambda j: (total[j], np.abs(points[1:, j]).sum()))
    return points[:, best], int(total[best])


def _figures(utts, feats, errors, weights) -> ListFigures:
    words = sum(len(u.reference.split()) for u in utts) if errors is not None else 0
    if errors is None:
        return ListFigures(len(utts), 0, None, None, None)
    first = [int(np.argmax(u.scores)) for u in utts]
    return ListFigures(
        len(utts),
        words,
        _wer(errors, first, words),
        _wer(errors, _picks(feats, weights), words),
        _wer(errors, [int(np.argmin(e)) for e in errors], words),
    )


def rescore(
    dev: str | list[Utterance],
    test: str | list[Utterance],
    models: dict[str, LanguageModel],
    config: RescoreConfig | None = None,
) -> RescoreResult:
    """Tune the weights on `dev` (it needs references), report and re-rank `test`."""
    config = config or RescoreConfig()
    if not models:
        raise SeqlmError("rescoring needs at least one model")
    lm_grid, len_grid = _grid(config.lm_weights), _grid(config.length_weights)
    dev_utts = read_nbest(dev, config.format) if isinstance(dev, str) else dev
    test_utts = read_nbest(test, config.format) if isinstance(test, str) else test
    dev_errors = _errors(dev_utts, "dev list")
    if dev_errors is None:
        raise SeqlmError("the dev list needs references to tune the weights on")
    dev_feats, test_feats = features(dev_utts, models), features(test_utts, models)
    weights, _ = tune(dev_feats, dev_errors, lm_grid, len_grid)
    names = list(models)
    result = RescoreResult(
        names,
        {
            "am": 1.0,
            **{n: float(w) for n, w in zip(names, weights[1:-1], strict=True)},
            "length": float(weights[-1]),
        },
        _figures(dev_utts, dev_feats, dev_errors, weights),
        _figures(test_utts, test_feats, _errors(test_utts, "test list"), weights),
    )
    if config.out:
        order = []
        for utt, f in zip(test_utts, test_feats, strict=True):
            total = f @ weights
            utt.extra["total"] = total.tolist()
            order.append(np.argsort(-total, kind="stable").tolist())
        write_nbest(config.out, test_utts, order)
        result.out = config.out
    return result


__all__ = ["RescoreConfig", "RescoreResult", "features", "rescore", "sentence_log_prob", "tune"]
