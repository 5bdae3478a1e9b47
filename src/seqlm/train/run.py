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
from seqlm.train.config import TrainConfig, make_config
from seqlm.train.rundir import RunDirectory

log = logging.getLogger(__name__)

RESUME_OVERRIDES = {
    "epochs",
    "max_steps",
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

    def to_json(self) -> dict:
        out = asdict(self)
        out["valid"], out["test"] = self.valid.to_json(), self.test.to_json()
        return out


def check_new_run(out: str | Path) -> Path:
    """`out` if a new run may start there: not busy, not holding a run already."""
    out = Path(out)
    RunDirectory(out).busy()
    if (out / "trainer.safetensors").exists():
        raise SeqlmError(f"{out} already holds a training run: resume it or choose another out")
    return out


def plan(
    corpus: Corpus | CorpusSpec | str | None,
    out: str | Path | None,
    resume: str | Path | None,
    preset: str | None,
    config_file: str | None,
    settings: dict,
    config: TrainConfig | None = None,
) -> tuple[TrainConfig, Corpus, Path]:
    """The settings, corpus and directory of a new or resumed run (checked, not started)."""
    settings = {k: v for k, v in settings.items() if v is not None}
    if config is not None and (settings or preset or config_file or resume is not None):
        raise SeqlmError("pass either config or settings (preset, config_file, flags), not both")
    if resume is not None:
        if preset or config_file:
            raise SeqlmError("resume keeps the run's settings; drop the preset/config file")
        from seqlm.train.resumable import resume_config

        RunDirectory(resume).busy()
        config, spec = resume_config(resume)
        changed = sorted(set(settings) - RESUME_OVERRIDES)
        if changed:
            raise SeqlmError(f"resume keeps the run's settings; cannot change {', '.join(changed)}")
        values = {**config.to_flat(), **settings}
        config = TrainConfig.from_flat(values)
        config.validate()
        if isinstance(corpus, Corpus) and corpus.spec != spec:
            raise SeqlmError(f"{resume} was trained on {spec.source}, not on {corpus.name}")
        return config, corpus if isinstance(corpus, Corpus) else load_corpus(spec), Path(resume)
    if corpus is None or out is None:
        raise SeqlmError("training needs a corpus and an output directory (or resume=DIR)")
    out = check_new_run(out)
    if not isinstance(corpus, Corpus):
        corpus = load_corpus(corpus)
    if config is None:
        config = make_config(corpus, config_file, settings, preset)
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
    **settings,
) -> TrainResult | None:
    """Train a recurrent LM, e.g. ``train(corpus, "runs/x", cell="lstm", hidden=650)``.

    Settings are the fields of `TrainConfig` and `ModelConfig` (the CLI's flags); the
    corpus's preset supplies the rest. `config`: a finished `TrainConfig` instead (as
    `make_config` builds it, which is what `seqlm train` does). Returns the best checkpoint's valid and test
    figures (None on the non-zero ranks of a distributed run)."""
    from seqlm.loading import load
    from seqlm.train.distributed import leave
    from seqlm.train.trainer import Trainer

    config, corpus, out = plan(corpus, out, resume, preset, config_file, settings, config)
    resuming = resume is not None and (out / "trainer.safetensors").exists()
    if resume is not None and not resuming:
        log.info("%s has no checkpoint yet: starting its run over, with its settings", out)
    trainer = Trainer(config, corpus, out, resume=resuming, progress=progress)
    try:
        summary = trainer.run()
    except BaseException:
        leave(trainer.world)
        raise
    leave(trainer.world, together=True)
    if not trainer.world.main:  # rank 0 evaluates and reports
        return None
    log.info("evaluating the best checkpoint on valid and test")
    model = load(out)
    return TrainResult(
        out=str(out),
        cell=config.model.cell,
        parameters=model.num_parameters(),
        valid=evaluate(model, corpus, "valid"),
        test=evaluate(model, corpus, "test"),
        **summary,
    )
