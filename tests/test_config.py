import math

import pytest
from conftest import write

from seqlm.io import SeqlmError
from seqlm.train.config import PRESETS, TrainConfig, make_config


def test_presets_and_defaults_are_valid():
    for preset in PRESETS:
        make_config(preset, None, {}, preset)
    make_config("my.txt", None, {})


@pytest.mark.parametrize(
    "name, base, listed",
    [
        (
            "ptb-fast",
            "ptb",
            "weight_drop dropout_words dropout dropout_embed dropout_between max_minutes",
        ),
        (
            "ptb-transformer",
            "transformer",
            "layers hidden context bptt tied adaptive_cutoffs dropout dropout_embed "
            "dropout_between lr warmup_steps epochs max_minutes budget_schedule "
            "budget_includes_eval eval_every eval_minutes",
        ),
    ],
)
def test_a_preset_built_on_another_changes_only_what_it_lists(name, base, listed):
    made, from_base = (make_config("ptb", None, {}, n).to_flat() for n in (name, base))
    assert {k for k in from_base if made[k] != from_base[k]} == set(listed.split())


@pytest.mark.parametrize(
    "toml, message",
    [
        ('hidden = "32"', "setting hidden (--hidden) must be an integer, got '32'"),
        ("hidden = 32.0", "setting hidden (--hidden) must be an integer, got 32.0"),
        ('lr = "0.1"', "setting lr (--lr) must be a number"),
        ("tied = 1", "setting tied (--tied) must be true or false"),
        ("optimizer = 3", "setting optimizer (--optimizer) must be a string"),
        (
            'adaptive_cutoffs = ["10"]',
            "setting adaptive_cutoffs (--adaptive-cutoffs) must be a list of integers",
        ),
        ("adaptive_cutoffs = [20, 10]", "adaptive_cutoffs (--adaptive-cutoffs) must increase"),
        ("clip = nan", "setting clip (--clip) must be a finite number, got nan"),
        ("clip = -1.0", "setting clip (--clip) must be > 0"),
        ("clip = 0", "setting clip (--clip) must be > 0"),
        ("weight_decay = -0.01", "setting weight_decay (--weight-decay) must be >= 0"),
        ("max_steps = -1", "setting max_steps (--max-steps) must be >= 0"),
        ("patience = -2", "setting patience (--patience) must be >= 0"),
        ("momentum = -0.1", "setting momentum (--momentum) must be in [0, 1)"),
        ("momentum = 1.0", "setting momentum (--momentum) must be in [0, 1)"),
        ("lr_decay = 0", "setting lr_decay (--lr-decay) must be >= 1"),
        ("lr_decay = 0.5", "setting lr_decay (--lr-decay) must be >= 1"),
        ("lr = inf", "setting lr (--lr) must be a finite number"),
        ("max_minutes = inf", "setting max_minutes (--max-minutes) must be a finite number"),
        ("forget_bias = -inf", "setting forget_bias (--forget-bias) must be a finite number"),
        ("dropout = 1.0", "setting dropout (--dropout) must be in [0, 1)"),
        ("min_lr_ratio = 1.5", "setting min_lr_ratio (--min-lr-ratio) must be in [0, 1]"),
        ("seed = -1", "setting seed (--seed) must be in [0, "),
        ("hidden = 0", "setting hidden (--hidden) must be in [1, "),
        ("train = 5", "[train] must be a table"),
    ],
)
def test_bad_toml_values_are_one_line_errors(tmp_path, toml, message):
    path = write(tmp_path / "c.toml", toml + "\n")
    with pytest.raises(SeqlmError) as info:
        make_config("my.txt", str(path), {})
    assert message in str(info.value) and "\n" not in str(info.value)


def test_limits_themselves_are_accepted(tmp_path):
    toml = "lr_decay = 1\nmomentum = 0.0\nmin_lr_ratio = 1\nmax_steps = 0\nseed = 0\nlr = 1\n"
    config = make_config("my.txt", str(write(tmp_path / "c.toml", toml)), {})
    assert (config.lr_decay, config.min_lr_ratio, config.lr) == (1, 1, 1)


def test_command_line_values_and_saved_configs_are_checked():
    with pytest.raises(SeqlmError, match="setting clip \\(--clip\\) must be a finite number"):
        make_config("my.txt", None, {"clip": math.nan})
    with pytest.raises(SeqlmError, match=r"setting momentum \(--momentum\)"):
        TrainConfig(momentum=2.0).validate()  # e.g. a run's config.json edited by hand
    with pytest.raises(SeqlmError, match="unknown settings not_a_setting"):
        make_config("my.txt", None, {"not_a_setting": "x"})


def test_config_file_os_errors(tmp_path):
    with pytest.raises(SeqlmError, match="is a directory"):
        make_config("my.txt", str(tmp_path), {})
    with pytest.raises(SeqlmError, match="no such config file"):
        make_config("my.txt", str(tmp_path / "missing.toml"), {})
