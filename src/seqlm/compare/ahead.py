"""Training a comparison's neural models side by side, one process per core.

With a token budget every model trains on one thread with deterministic kernels, so a
2-core machine can train two at once and get the very same weights as one after the other
(each run is a function of its settings and seed alone): the demo's table is unchanged and
arrives sooner. A time budget is not split this way, since two runs sharing the machine
would each read fewer tokens in their minutes.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

log = logging.getLogger(__name__)


def _train_one(job: tuple) -> tuple[str, bool]:
    """Train one model unless a finished one is there; (directory, trained here)."""
    from seqlm.data.corpus import load_corpus

    train, lock, spec, corpus_spec, directory, budget, seed, overrides, retrain = job
    with lock(directory):
        if (directory / "compare.json").exists() and not retrain:
            return str(directory), False
        train(spec, load_corpus(corpus_spec), directory, budget, seed, overrides, False, retrain)
    return str(directory), True


def workers_for(jobs: int) -> int:
    """Processes to train `jobs` models with: one per core this process may use, at most
    one per job (1: train in this process, as before)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, jobs))


def train_ahead(
    jobs: list[tuple], corpus_spec, train: Callable, lock: Callable, retrain: bool
) -> set[str]:
    """Train every (spec, directory, budget, seed, overrides) job still to train, as many
    at a time as there are cores; the directories trained here (their runs are new)."""
    todo = [j for j in jobs if retrain or not (Path(j[1]) / "compare.json").exists()]
    workers = workers_for(len(todo))
    if workers < 2:
        return set()
    log.info("training %d neural models, %d at a time (one thread each)", len(todo), workers)
    context = multiprocessing.get_context("spawn")  # no fork of a process holding torch
    args = [(train, lock, s, corpus_spec, d, b, seed, o, retrain) for s, d, b, seed, o in todo]
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        return {directory for directory, trained in pool.map(_train_one, args) if trained}
