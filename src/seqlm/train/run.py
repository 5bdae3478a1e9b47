"""`seqlm.train`: one call from a corpus and settings to a trained, evaluated model directory.

The CLI's `seqlm train` is this function plus printing, so both give the same figures. A
new run needs a corpus and an output directory; `resume=DIR` continues a run exactly, with
the settings it was started with (only the budget, the device and the thread count may
change: anything else would make the resumed run differ from an uninterrupted one).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from seqlm.data.corpus import Corpus, load_corpus
from seqlm.data.spec import CorpusSpec
from seqlm.evaluate import EvalResult, evaluate
from seqlm.io import SeqlmError
from seqlm.modeldir import check_model_target
from seqlm.train.calibrate import Forecast, announce, rate_of, versus
from seqlm.train.config import TrainConfig, make_config
from seqlm.train.rundir import RunDirectory, rank_zero

log = logging.getLogger(__name__)

RESUME_OVERRIDES = {
    "epochs",
    "max_steps",
    "max_tokens",
    "max_minutes",
    "budget_includes_eval",
    "patience",
    "threads",
    "device",
}


@dataclass
class TrainResult:
    """How a run stopped and what its best checkpoint scores."""

    out: str
    cell: str
    stop: str  # epochs, max_steps, early_stop, budget, interrupted
    steps: int
    tokens: int
    train_seconds: float
    eval_seconds: float
    tokens_per_s: float
    best_valid_ppl: float | None
    parameters: int
    valid: EvalResult
    test: EvalResult
    forecast: Forecast | None = None  # the plan made before training (none on resume)
    mixture: dict | None = None  # with the corpus's 5-gram (`best_of_both`), no preset only

    def to_json(self) -> dict:
        out = asdict(self)
        out["valid"], out["test"] = self.valid.to_json(), self.test.to_json()
        return out


def check_new_run(out: str | Path, overwrite: bool = False) -> Path:
    """`out` if a new run may start there: not busy, holding no model (unless `overwrite`)
    and no one else's files (`modeldir.check_model_target`)."""
    out = Path(out)
    if not rank_zero():  # rank 0 of a torchrun checks for all
        return out
    RunDirectory(out).busy()
    return check_model_target(out, overwrite)


def plan(
    corpus: Corpus | CorpusSpec | str | None,
    out: str | Path | None,
    resume: str | Path | None,
    preset: str | None,
    config_file: str | None,
    settings: dict,
    config: TrainConfig | None = None,
    overwrite: bool = False,
) -> tuple[TrainConfig, Corpus, Path]:
    """The settings, corpus and directory of a new or resumed run (checked, not started)."""
    settings = {k: v for k, v in settings.items() if v is not None}
    if config is not None and (settings or preset or config_file or resume is not None):
        raise SeqlmError("pass either config or settings (preset, config_file, flags), not both")
    if resume is not None:
        if preset or config_file:
            raise SeqlmError("resume keeps the run's settings; drop the preset/config file")
        from seqlm.train.resumable import resume_config

        if rank_zero():
            RunDirectory(resume).busy()
        config, spec = resume_config(resume)
        changed = sorted(set(settings) - RESUME_OVERRIDES)
        if changed:
            raise SeqlmError(f"resume keeps the run's settings; cannot change {', '.join(changed)}")
        values = {**config.to_flat(), **settings}
        config = TrainConfig.from_flat(values)
        config.validate()
        if isinstance(corpus, Corpus) and corpus.spec.to_json() != spec.to_json():
            raise SeqlmError(f"{resume} was trained on {spec.source}, not on {corpus.name}")
        return config, corpus if isinstance(corpus, Corpus) else load_corpus(spec), Path(resume)
    if corpus is None or out is None:
        raise SeqlmError("training needs a corpus and an output directory (or resume=DIR)")
    out = check_new_run(out, overwrite)
    if not isinstance(corpus, Corpus):
        corpus = load_corpus(corpus)
    if config is None:
        threads = settings.get("threads", 0)
        config = make_config(
            corpus, config_file, settings, preset, rate=rate_of(corpus.vocab, threads)
        )
    else:
        config.validate()
    return config, corpus, out


def train(
    corpus: Corpus | CorpusSpec | str | None = None,
    out: str | Path | None = None,
    *,
    config: TrainConfig | None = None,
    resume: str | Path | None = None,
    preset: str | None = None,
    config_file: str | None = None,
    progress: bool = False,
    mixture: bool = True,
    overwrite: bool = False,
    **settings,
) -> TrainResult | None:
    """Train a recurrent LM, e.g. ``train(corpus, "runs/x", cell="lstm", hidden=650)``.

    Settings are the fields of `TrainConfig` and `ModelConfig` (the CLI's flags); the
    corpus's preset supplies the rest. `config`: a finished `TrainConfig` instead (as
    `make_config` builds it, which is what `seqlm train` does). Returns the best
    checkpoint's valid and test figures (None on the non-zero ranks of a distributed run). `mixture`: on a corpus
    without a preset (and no `preset`), also its 5-gram and their mixture, tuned on valid
    and saved as OUT/mixture (`seqlm.evaluate.mixture.best_of_both`). `overwrite`: start
    over a model already in `out` (deleted as the run starts)."""
    from seqlm.loading import load
    from seqlm.train.distributed import leave
    from seqlm.train.trainer import Trainer

    config, corpus, out = plan(
        corpus, out, resume, preset, config_file, settings, config, overwrite
    )
    resuming = resume is not None and (out / "trainer.safetensors").exists()
    if resume is not None and not resuming:
        log.info("%s has no checkpoint yet: starting its run over, with its settings", out)
    restart = overwrite or resume is not None  # a run with no checkpoint starts over in place
    trainer = Trainer(config, corpus, out, resume=resuming, progress=progress, overwrite=restart)
    forecast = None if resuming else announce(config, corpus)  # once the run is known to start
    try:
        summary = trainer.run()
    except BaseException:
        leave(trainer.world)
        raise
    leave(trainer.world, together=True)
    if not trainer.world.main:  # rank 0 evaluates and reports
        return None
    if forecast is not None:
        log.info("%s", versus(forecast, summary))
    log.info("evaluating the best checkpoint on valid and test")
    model = load(out)
    return TrainResult(
        out=str(out),
        cell=config.model.cell,
        parameters=model.num_parameters(),
        valid=evaluate(model, corpus, "valid"),
        test=evaluate(model, corpus, "test"),
        forecast=forecast,
        mixture=best_of_both_run(model, corpus, out) if mixture and not preset else None,
        **summary,
    )


def best_of_both_run(model, corpus: Corpus, out: Path) -> dict | None:
    """A corpus without a preset: its 5-gram (seconds to count) and the mixture with
    `model`, weight tuned on valid, saved as OUT/mixture; None for preset corpora."""
    from seqlm.evaluate.mixture import best_of_both
    from seqlm.ngram import NgramLM
    from seqlm.train.config import preset_for

    if preset_for(corpus.spec.source if corpus.spec else corpus.name, corpus.vocab.level):
        return None
    log.info("building the corpus's 5-gram and the mixture (weight tuned on valid)")
    ngram = NgramLM.train(corpus["train"], corpus.vocab, 5)
    if corpus.spec is not None:
        ngram.info["corpus"] = corpus.spec.to_json()
    return best_of_both(model, ngram, corpus, out / "mixture")
