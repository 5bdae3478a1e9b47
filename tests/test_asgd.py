"""NT-ASGD: the switching rule, the running average, and exact resume while averaging."""

import json

import numpy as np
import torch
from conftest import synthetic
from safetensors.torch import load_file

from seqlm.train import train
from seqlm.train.asgd import WeightAverage, should_start_averaging

SMALL = synthetic(12_000, 1_500, 1_500)
TINY = dict(
    cell="lstm",
    embed=12,
    hidden=16,
    layers=2,
    batch_size=8,
    bptt=15,
    epochs=50,
    eval_every=4,
    checkpoint_every=3,
    log_every=2,
    threads=1,
    seed=4,
    lr=20.0,
    optimizer="ntasgd",
    asgd_nonmono=0,
    weight_drop=0.3,
    dropout=0.2,
    ar=1.0,
    tar=1.0,
    variable_bptt=True,
    lr_by_window=True,
)


def test_switching_rule_is_awd_lstms():
    assert not should_start_averaging([5.0, 4.0], 3.0, 1)  # still improving
    assert not should_start_averaging([5.0, 4.0], 4.5, 1)  # worse than the last, not than 5
    assert should_start_averaging([5.0, 4.0], 5.5, 1)  # worse than min(h[:-1]) = 5
    assert not should_start_averaging([5.0, 4.0], 5.5, 2)  # needs more than 2 earlier checks
    assert should_start_averaging([6.0, 3.0, 4.0], 3.5, 1)  # min(6, 3) = 3 < 3.5
    assert not should_start_averaging([6.0, 3.0, 4.0], 3.5, 2)  # min(6) = 6
    assert should_start_averaging([6.0, 3.0, 4.0], 3.5, 0)


def test_average_is_the_mean_of_the_iterates_since_the_switch():
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(3, 4, dtype=torch.float64))
    opt = torch.optim.SGD([w], lr=0.1)
    average, seen = WeightAverage([w]), []
    for _ in range(7):
        (w**3).sum().backward()
        opt.step()
        opt.zero_grad()
        average.update()
        seen.append(w.detach().numpy().copy())
    np.testing.assert_allclose(average.average[0].numpy(), np.mean(seen, axis=0), atol=1e-14)
    own = w.detach().clone()
    with average.swapped_in():
        np.testing.assert_array_equal(w.detach().numpy(), average.average[0].numpy())
    assert torch.equal(w.detach(), own)


def test_resume_while_averaging_is_exact(tmp_path):
    whole = train(SMALL, tmp_path / "whole", max_steps=40, **TINY)
    progress = json.loads((tmp_path / "whole" / "trainer.json").read_text())
    assert 0 < progress["average_from_step"] < 24  # averaging started before the cut below
    train(SMALL, tmp_path / "cut", max_steps=27, **TINY)
    resumed = train(resume=tmp_path / "cut", max_steps=40)
    assert resumed.best_valid_ppl == whole.best_valid_ppl
    for name in ("trainer.safetensors", "model.safetensors"):
        a, b = load_file(tmp_path / "whole" / name), load_file(tmp_path / "cut" / name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # the saved best model is an average of the weights, not the last iterate
    a = load_file(tmp_path / "whole" / "trainer.safetensors")
    assert "average.0" in a and not torch.equal(a["average.0"], a["model.embedding.weight"])


def test_lr_scales_with_the_window_length(tmp_path):
    from seqlm.data import load_corpus
    from seqlm.train import Trainer, make_config

    config = make_config("x", overrides={**TINY, "bptt": 70})
    trainer = Trainer(config, load_corpus(SMALL), tmp_path)
    assert trainer.lr_at(0, 35) == 10.0 and trainer.lr_at(0, 70) == 20.0 == trainer.lr_at(0)
    spans = trainer.batches.spans(0)[:, 1]
    assert spans.min() < 70 < spans.max()  # variable windows: the scaling is used
