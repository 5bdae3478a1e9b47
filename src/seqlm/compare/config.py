"""What `seqlm compare` and `seqlm demo` are asked: the models, the budget each neural model
trains for, the seeds, where trained models are kept, and what the study adds."""

from __future__ import annotations

from dataclasses import dataclass

from seqlm.settings import check, setting

DEMO_MODELS = "ngram:3,ngram:5,rnn,lstm,gru,mlstm,transformer"
BUDGET_HELP = (
    "training per neural model: tokens (2M, 500k: the same models on every machine) or time "
    "(90s, 10m, 1h: the tokens seen depend on the machine's speed and load)"
)
SEEDS_HELP = "train each neural model K times (seeds 1..K); the table shows mean ± sd"
MAX_SEEDS = 100


@dataclass
class CompareConfig:
    models: str = setting(
        DEMO_MODELS,
        "comma-separated: ngram:N[:smoothing] or a --cell (lstm, transformer, ...)",
        metavar="LIST",
    )
    budget: str = setting("2M", BUDGET_HELP, metavar="BUDGET")
    seeds: int = setting(1, SEEDS_HELP, min=1, max=MAX_SEEDS, metavar="K")
    root: str | None = setting(
        None,
        "where models are kept and reused (default: the seqlm cache)",
        alias="from",
        metavar="DIR",
    )
    retrain: bool = setting(False, "train every model afresh even if a cached one matches")
    report: str | None = setting(
        None, "write report.html, report.json and plots to DIR", metavar="DIR"
    )
    probes: bool = setting(
        False,
        "also run the long-range lab (gradient flow, context ablation, dependency scoring) "
        "on the models; its figures join the report",
    )

    def validate(self) -> None:
        from seqlm.compare.run import parse_budget, parse_models

        check(self)
        parse_models(self.models)
        parse_budget(self.budget)


@dataclass
class DemoConfig(CompareConfig):
    """The demo: every kind of model on the built-in synthetic corpus, with a token budget
    (the same table on every machine) and the long-range lab."""

    models: str = setting(DEMO_MODELS, "the models compared", flag=False)
    budget: str = setting("1M", BUDGET_HELP, metavar="BUDGET")
    seeds: int = setting(2, SEEDS_HELP, min=1, max=MAX_SEEDS, metavar="K")
    report: str | None = setting("seqlm-demo", "report directory", metavar="DIR")
    probes: bool = setting(True, "run the long-range lab on the models")
