"""The `seqlm` command: parses arguments and calls the library; nothing else lives here.

Every command that prints figures takes `--json` and then prints exactly one JSON object.
Problems the user can fix (`SeqlmError`) print one line and exit with code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from seqlm import __version__
from seqlm.errors import SeqlmError

CORPUS_HELP = (
    "a directory with train/valid/test.txt, a text file (split 90/5/5 at line ends), a named "
    "dataset (ptb, tinyshakespeare, wikitext-2; looked up under $SEQLM_DATA, downloaded if "
    "missing) or the built-in 'synthetic[:key=value,...]'"
)


def _add_corpus_args(p: argparse.ArgumentParser, positional: bool = True) -> None:
    if positional:
        p.add_argument("corpus", metavar="CORPUS", help=CORPUS_HELP)
    else:
        p.add_argument("--data", dest="corpus", metavar="CORPUS", help=CORPUS_HELP)
    p.add_argument("--level", choices=["word", "char"], help="tokenizer (default: per corpus)")
    p.add_argument("--max-vocab", type=int, metavar="N", help="keep the N most frequent tokens")
    p.add_argument("--min-count", type=int, default=1, metavar="N",
                   help="drop tokens seen fewer than N times in train (default 1)")  # fmt: skip
    p.add_argument("--split-fractions", metavar="F,F,F",
                   help="train,valid,test fractions for a single file (default 0.9,0.05,0.05)")  # fmt: skip


def _corpus(args: argparse.Namespace):
    from seqlm.data import load_corpus

    fractions = None
    if args.split_fractions:
        try:
            fractions = tuple(float(x) for x in args.split_fractions.split(","))
        except ValueError:
            raise SeqlmError(f"bad --split-fractions {args.split_fractions!r}") from None
    return load_corpus(args.corpus, args.level, args.max_vocab, args.min_count, fractions)


def _emit(args: argparse.Namespace, payload: dict, text: str) -> None:
    print(json.dumps(payload) if args.json else text)


# -- commands ---------------------------------------------------------------------------
def cmd_data_stats(args: argparse.Namespace) -> None:
    corpus = _corpus(args)
    s = corpus.stats()
    lines = [
        f"corpus          {s['corpus']} ({s['level']} level)",
        f"vocabulary      {s['vocab_size']:,} types",
        "tokens          " + "  ".join(f"{k} {v:,}" for k, v in s["tokens"].items()),
        f"type/token      {s['type_token_ratio']:.4f} (train)",
        "OOV rate        " + "  ".join(f"{k} {v:.2%}" for k, v in s["oov_rate"].items()),
        "<unk> rate      " + "  ".join(f"{k} {v:.2%}" for k, v in s["unk_rate"].items()),
    ]
    for split, floor in s.get("entropy_floor", {}).items():
        lines.append(
            f"entropy floor   {split:5s} {floor['nats_per_token']:.4f} nats/token = perplexity "
            f"{floor['perplexity']:.3f}; {floor['dependent_tokens']:,} long-range-dependent "
            f"tokens, up to {floor['max_distance']} back"
        )
    _emit(args, s, "\n".join(lines))


def _corpus_settings(args: argparse.Namespace) -> dict:
    return {"corpus": args.corpus, "max_vocab": args.max_vocab, "min_count": args.min_count,
            "split_fractions": args.split_fractions}  # fmt: skip


def _corpus_for_model(args: argparse.Namespace, model, config: dict):
    """The corpus to evaluate on: --data, else the one the model was trained on."""
    if args.corpus is None:
        if "corpus" not in config:
            raise SeqlmError("this model does not record its corpus: pass --data CORPUS")
        args.corpus = config["corpus"]
        args.max_vocab, args.min_count = config.get("max_vocab"), config.get("min_count", 1)
        args.split_fractions = config.get("split_fractions")
    args.level = args.level or model.vocab.level
    return _corpus(args)


def cmd_ngram_train(args: argparse.Namespace) -> None:
    import time

    from seqlm.evaluate import evaluate
    from seqlm.ngram import NgramLM

    corpus = _corpus(args)
    start = time.perf_counter()
    model = NgramLM.train(corpus["train"], corpus.vocab, args.order, args.smoothing, args.k)
    seconds = time.perf_counter() - start
    model.save(args.out, {**_corpus_settings(args), "train_seconds": round(seconds, 3)})
    valid = evaluate(model, corpus, "valid")
    payload = {"out": str(args.out), "order": args.order, "smoothing": args.smoothing,
               "ngrams": model.info["ngrams"], "train_seconds": round(seconds, 3),
               "valid": valid}  # fmt: skip
    ppl = valid["perplexity"]
    text = (
        f"trained {args.order}-gram ({args.smoothing}) on {corpus.name} in {seconds:.2f} s: "
        + ", ".join(f"{n:,} {i}-grams" for i, n in enumerate(model.info["ngrams"], 1))
        + f"\nvalid perplexity {ppl if ppl is not None else 'inf (unseen events)'}"
        + f"\nwrote {args.out}/model.arpa, vocab.json, config.json"
    )
    _emit(args, payload, text)


def cmd_eval(args: argparse.Namespace) -> None:
    from seqlm.evaluate import evaluate
    from seqlm.models import load_model, model_config

    config = model_config(args.model)
    model = load_model(args.model)
    corpus = _corpus_for_model(args, model, config)
    result = {"model_path": str(args.model), **evaluate(model, corpus, args.split)}
    lines = [f"{result['model']} on {corpus.name} {args.split}: {result['tokens']:,} tokens"]
    if result["perplexity"] is None:
        lines.append(
            f"perplexity inf: {result['zero_probability_tokens']} tokens have probability 0"
        )
    else:
        lines.append(
            f"perplexity {result['perplexity']:.2f}  ({result['nats_per_token']:.4f} nats/token)"
        )
    if "bits_per_char" in result:
        lines.append(f"bits per character {result['bits_per_char']:.4f}")
    if "entropy_floor_nats" in result:
        lines.append(f"entropy floor {result['floor_perplexity']:.3f} perplexity; gap "
                     f"{result.get('gap_nats', float('nan')):.4f} nats/token")  # fmt: skip
    _emit(args, result, "\n".join(lines))


def cmd_generate(args: argparse.Namespace) -> None:
    from seqlm.data.text import EOS, detokenize, tokenize
    from seqlm.generate import sample
    from seqlm.models import load_model

    model = load_model(args.model)
    if args.precision != "fp32":
        if not hasattr(model, "set_generation_precision"):
            raise SeqlmError(f"--precision {args.precision} applies to neural models only")
        model.set_generation_precision(args.precision)
    level = model.vocab.level
    prompt_tokens = tokenize(args.prompt, level) if args.prompt else []
    if level == "word" and prompt_tokens and not args.prompt.endswith("\n"):
        prompt_tokens = prompt_tokens[:-1]  # a prompt continues its line
    prompt = model.vocab.encode(prompt_tokens)
    eos = model.vocab.stoi.get(EOS)
    tokens = sample(model, prompt, args.max_tokens, args.temperature, args.top_k, args.top_p,
                    args.seed)  # fmt: skip
    out: list[str] = []
    if args.json:
        out = model.vocab.decode(list(tokens))
        print(json.dumps({"prompt": args.prompt, "tokens": out,
                          "text": detokenize(out, level)}))  # fmt: skip
        return
    sys.stdout.write(args.prompt)
    for token in tokens:
        word = model.vocab.tokens[token]
        if level == "char":
            piece = word
        elif token == eos:
            piece = "\n"
        else:
            piece = ("" if not out or out[-1] == "\n" else " ") + word
            if not out and args.prompt and not args.prompt.endswith(("\n", " ")):
                piece = " " + word
        out.append("\n" if token == eos else word)
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")


TRAIN_OPTIONS = {  # flag -> (type, help); None type = on/off switch
    "embed": (int, "embedding size"),
    "hidden": (int, "hidden units per layer"),
    "layers": (int, "recurrent layers"),
    "dropout": (float, "dropout on the last layer's output"),
    "dropout_embed": (float, "dropout on the embeddings"),
    "dropout_between": (float, "dropout between recurrent layers"),
    "variational": (None, "one dropout mask per sequence, shared across time (Gal & Ghahramani)"),
    "tied": (None, "tie the output layer to the embedding (Inan et al.; Press & Wolf)"),
    "forget_bias": (float, "initial LSTM forget-gate bias (default 1)"),
    "adaptive_cutoffs": (str, "adaptive softmax cluster cutoffs, e.g. 2000,6000"),
    "backend": (str, "fused (torch.nn kernels, default) or reference (cells from the equations)"),
    "batch_size": (int, "parallel streams per step"),
    "bptt": (int, "truncated-BPTT window length"),
    "variable_bptt": (None, "randomise the window length (AWD-LSTM)"),
    "optimizer": (str, "sgd or adamw"),
    "lr": (float, "learning rate"),
    "weight_decay": (float, "AdamW weight decay"),
    "momentum": (float, "SGD momentum"),
    "clip": (float, "gradient-norm clipping"),
    "warmup_steps": (int, "AdamW linear warm-up steps (then cosine decay)"),
    "lr_decay": (float, "SGD: divide the lr by this when validation stops improving"),
    "decay_after_epoch": (int, "SGD: divide the lr every epoch after this one instead"),
    "epochs": (int, "epochs"),
    "max_steps": (int, "stop after this many steps"),
    "max_minutes": (float, "training-time budget; stops with the best checkpoint"),
    "patience": (int, "early stopping: evaluations without improvement"),
    "eval_every": (int, "steps between validations (default: each epoch end)"),
    "eval_minutes": (float, "also validate after this many minutes of training"),
    "eval_streams": (
        int,
        "validation reads the split as this many parallel streams "
        "(default 1: exact; 10, pytorch/examples' choice, is ~2x faster on PTB)",
    ),
    "checkpoint_every": (int, "steps between resumable checkpoints"),
    "log_every": (int, "steps between metric rows"),
    "seed": (int, "random seed"),
    "threads": (int, "CPU threads"),
    "device": (str, "auto, cpu, cuda, cuda:N or mps"),
    "amp": (str, "mixed precision: auto, none, bf16, fp16"),
}
RESUME_OVERRIDES = {"epochs", "max_steps", "max_minutes", "patience", "threads", "device"}


def cmd_train(args: argparse.Namespace) -> None:
    from seqlm.evaluate import evaluate
    from seqlm.models import load_model
    from seqlm.train import Trainer, make_config, resume_settings
    from seqlm.train.distributed import leave

    overrides = {name: getattr(args, name) for name in TRAIN_OPTIONS}
    if overrides["adaptive_cutoffs"] is not None:
        try:
            overrides["adaptive_cutoffs"] = [
                int(x) for x in overrides["adaptive_cutoffs"].split(",")
            ]
        except ValueError:
            raise SeqlmError(f"bad --adaptive-cutoffs {args.adaptive_cutoffs!r}") from None
    if args.resume:
        out = args.resume
        config, settings = resume_settings(out)
        given = {k for k, v in overrides.items() if v is not None} | (
            {"model"} if args.model else set()
        )
        if args.preset or args.config:
            raise SeqlmError("--resume keeps the run's settings; drop --preset/--config")
        if given - RESUME_OVERRIDES:
            raise SeqlmError(f"--resume keeps the run's settings; cannot change "
                             f"{', '.join(sorted(given - RESUME_OVERRIDES))}")  # fmt: skip
        for key in given:
            setattr(config, key, overrides[key])
        args.corpus, args.level = settings["corpus"], settings["level"]
        args.max_vocab, args.min_count = settings["max_vocab"], settings["min_count"] or 1
        args.split_fractions = settings["split_fractions"]
    else:
        if not args.out or not args.corpus:
            raise SeqlmError("train needs --data CORPUS and --out DIR (or --resume DIR)")
        out = args.out
        if (Path(out) / "trainer.safetensors").exists():
            raise SeqlmError(f"{out} already holds a training run: use --resume {out} or "
                             "another --out")  # fmt: skip
        config = make_config(
            args.corpus, args.config, {**overrides, "model": args.model}, args.preset
        )
    corpus = _corpus(args)
    settings = {**_corpus_settings(args), "level": corpus.level}
    trainer = Trainer(config, corpus, out, settings, resume=bool(args.resume), quiet=args.json)
    try:
        summary = trainer.run()
    except BaseException:
        leave(trainer.world)
        raise
    leave(trainer.world, together=True)
    if not trainer.world.main:  # rank 0 evaluates and reports
        return
    model = load_model(out)
    results = {split: evaluate(model, corpus, split) for split in ("valid", "test")}
    payload = {"out": str(out), **summary, "parameters": model.num_parameters(),
               "valid": results["valid"], "test": results["test"]}  # fmt: skip
    lines = [
        f"{config.model} ({model.num_parameters():,} parameters) on {corpus.name}: stopped "
        f"({summary['stop']}) after {summary['steps']:,} steps, {summary['tokens']:,} tokens, "
        f"{summary['train_seconds'] / 60:.1f} min ({summary['tokens_per_s']:,.0f} tokens/s)",
    ]
    for split, r in results.items():
        extra = f", {r['bits_per_char']:.4f} bits/char" if "bits_per_char" in r else ""
        floor = f" (floor {r['floor_perplexity']:.3f})" if "floor_perplexity" in r else ""
        lines.append(f"best checkpoint: {split} perplexity {r['perplexity']}{extra}{floor}")
    lines.append(f"wrote {out}/model.safetensors, config.json, vocab.json, metrics.jsonl")
    if summary["stop"] == "interrupted":
        lines.append(f"interrupted: resume with  seqlm train --resume {out}")
    _emit(args, payload, "\n".join(lines))
    if summary["stop"] == "interrupted":
        raise KeyboardInterrupt


def _run_compare(args: argparse.Namespace, models: str, budget: str, report: str | None,
                 root: str | None) -> dict:  # fmt: skip
    from seqlm.compare import compare, format_table, parse_budget, parse_models, summary_sentences
    from seqlm.data.corpus import cache_root
    from seqlm.report import write_report

    specs = parse_models(models)
    minutes = parse_budget(budget)
    if report:
        _check_writable(report)
    corpus = _corpus(args)
    settings = {**_corpus_settings(args), "level": corpus.level}
    root_dir = Path(root) if root else cache_root().parent / "models"
    log = (lambda *a: None) if args.json else (lambda m: print(m, file=sys.stderr))
    result, loaded, losses = compare(corpus, specs, root_dir, settings, minutes,
                                     quiet=args.json, log=log)  # fmt: skip
    table, sentences = format_table(result), summary_sentences(result)
    lab = None
    if getattr(args, "probes", False):
        from seqlm.probe.lab import run_lab

        lab = run_lab(corpus, loaded, log=log)
        result["lab_summary"] = _lab_lines(lab)
        sentences += "\n" + "\n".join(result["lab_summary"])
    if report:
        page = write_report(result, loaded, losses, corpus, report,
                            {"argv": ["seqlm", *sys.argv[1:]], "lab": lab})  # fmt: skip
        result["report"] = str(page)
    result["summary"] = sentences
    text = f"{table}\n\n{sentences}"
    if report:
        text += f"\nreport: {result['report']}"
    _emit(args, result, text)
    return result


def _lab_lines(lab: dict) -> list[str]:
    """One line per probe, from the measured numbers."""
    lines = []
    if lab.get("gradients"):
        lines.append("gradient decay per step back: " + ", ".join(
            f"{r['label']} {r['hidden_decay_per_step']:+.3f} decades" for r in lab["gradients"]))  # fmt: skip
    if lab.get("context"):
        lines.append("effective context (tokens): " + ", ".join(
            f"{r['label']} {r['effective_context']}" for r in lab["context"]))  # fmt: skip
    for r in lab.get("dependency", []):
        far = [row for rows in r["kinds"].values() for row in rows if row["from"] >= 8]
        if far:
            gap = sum((row["loss"] - row["floor"]) * row["count"] for row in far) / sum(
                row["count"] for row in far
            )
            lines.append(f"{r['label']}: {gap:+.3f} nats over the floor on tokens fixed "
                         f"8 or more tokens back")  # fmt: skip
    return lines


def _check_writable(directory: str) -> None:
    path = Path(directory)
    try:
        path.mkdir(parents=True, exist_ok=True)
        (path / ".write-test").write_text("")
        (path / ".write-test").unlink()
    except OSError as e:
        raise SeqlmError(f"{path}: cannot write the report there ({e.strerror})") from None


def cmd_compare(args: argparse.Namespace) -> None:
    _run_compare(args, args.models, args.budget, args.report, args.root)


def cmd_demo(args: argparse.Namespace) -> None:
    args.corpus, args.level, args.max_vocab, args.min_count = "synthetic", None, None, 1
    args.split_fractions = None
    _run_compare(args, "ngram:3,ngram:5,rnn,lstm,gru", args.budget, args.report, args.root)


def _probe_models(args: argparse.Namespace, corpus=None) -> list[tuple[str, object]]:
    """MODEL arguments: saved models, or fresh:rnn / fresh:lstm / fresh:gru (untrained)."""
    from seqlm.models import load_model
    from seqlm.nn import ModelConfig, RecurrentLM

    models = []
    for spec in args.models:
        if spec.startswith("fresh:"):
            if corpus is None:
                raise SeqlmError("fresh models need --data CORPUS")
            kind = spec.split(":", 1)[1]
            config = ModelConfig(
                kind=kind, vocab_size=len(corpus.vocab), embed=64, hidden=128, layers=1
            )
            model = RecurrentLM(config, corpus.vocab, "reference")
            model.reset_parameters(args.seed)
            models.append((f"{kind} (untrained)", model))
        else:
            models.append((Path(spec).name, load_model(spec)))
    return models


def _probe_corpus(args: argparse.Namespace):
    """--data, else the corpus the first saved model was trained on, else synthetic."""
    from seqlm.models import model_config

    args.level, args.max_vocab, args.min_count, args.split_fractions = None, None, 1, None
    if args.corpus is None:
        saved = [m for m in args.models if not m.startswith("fresh:")]
        config = model_config(saved[0]) if saved else {}
        args.corpus = config.get("corpus", "synthetic")
        if "corpus" in config:
            args.max_vocab, args.min_count = config.get("max_vocab"), config.get("min_count", 1)
            args.split_fractions = config.get("split_fractions")
    return _corpus(args)


def _int_list(text: str, flag: str) -> tuple[int, ...]:
    try:
        values = tuple(int(x) for x in text.split(","))
    except ValueError:
        raise SeqlmError(f"bad {flag} {text!r}: expected comma-separated integers") from None
    if not values or min(values) < 1:
        raise SeqlmError(f"bad {flag} {text!r}: values must be at least 1")
    return values


def _probe_memory(args: argparse.Namespace) -> None:
    from seqlm.probe.lab import memory_line
    from seqlm.probe.memory import MemorySettings, forget_bias_study, memory_ladder
    from seqlm.probe.plots import plot_forget_bias, plot_memory

    if args.models:
        raise SeqlmError(f"probe {args.probe} trains its own small networks; it takes no MODEL")
    tasks = ("adding", "copy") if args.task == "both" else (args.task,)
    settings = MemorySettings(seed=args.seed, **({"steps": args.steps} if args.steps else {}))
    _check_writable(args.out)
    out, lines = Path(args.out), []

    def show(row: dict) -> None:
        if not args.json:
            print(memory_line(row), flush=True)

    if args.probe == "memory":
        lengths = _int_list(args.lengths or "10,20,50,100,200", "--lengths")
        results = []
        for task in tasks:
            for cell in args.cell.split(","):
                if cell not in ("rnn", "lstm", "gru"):
                    raise SeqlmError(f"unknown --cell {cell!r} (choose rnn, lstm, gru)")
                r = memory_ladder(task, cell, lengths, settings, progress=show)
                lines.append(f"{task}: {cell} solves up to T = {r['longest_solved'] or 'none'}")
                results.append(r)
        figures = plot_memory(results, out)
    else:
        lengths = _int_list(args.lengths or "50,100", "--lengths")
        results = []
        for task in tasks:
            r = forget_bias_study(task, lengths, settings=settings)
            for run in r["runs"]:
                for row in run["rows"]:
                    show({**row, "cell": f"b={run['forget_bias']:g}"})
            results.append(r)
            figures = plot_forget_bias(r, out / task)
    (out / f"{args.probe}.json").write_text(json.dumps(results, indent=2))
    _emit(args, {"probe": args.probe, "results": results, "figures": figures},
          "\n".join(lines + [f"wrote {out}/{args.probe}.json, "
                             + ", ".join(Path(f).name for f in figures)]))  # fmt: skip


def _probe_gates(args: argparse.Namespace, label: str, model, corpus) -> tuple[dict, list, list]:
    from seqlm.data.text import read_chunks, tokenize
    from seqlm.probe.gates import correlated_cells, heatmap_html, inside_lstm, property_values
    from seqlm.probe.plots import plot_saturation

    if args.text:
        text = "".join(read_chunks(args.text))  # one-line errors for binary / non-UTF-8
        ids = model.vocab.encode(tokenize(text, model.vocab.level))[: args.tokens]
    else:
        ids = model.vocab.encode(corpus.vocab.decode(corpus[args.split][: args.tokens]))
    if len(ids) < 2:
        raise SeqlmError("gates: the text has fewer than 2 tokens")
    props = args.property.split(",") if args.property else ["line_position", "in_quotes",
                                                            "bracket_depth"]  # fmt: skip
    result, states, tokens = inside_lstm(model, ids, props)
    cells = []
    if args.cells:
        for spec in args.cells.split(","):
            try:
                layer, unit = (int(x) for x in spec.split(":"))
            except ValueError:
                layer = unit = -1
            if not (1 <= layer <= len(states) and 0 <= unit < states[0]["cell_state"].shape[1]):
                raise SeqlmError(f"bad --cells entry {spec!r}: expected LAYER:UNIT with layer "
                                 f"1..{len(states)} and unit "
                                 f"0..{states[0]['cell_state'].shape[1] - 1}")  # fmt: skip
            cells.append({"layer": layer, "unit": unit})
        for name in props:
            values = property_values(name, tokens)
            for cell in cells:
                if values.std() > 0:
                    r = correlated_cells([states[cell["layer"] - 1]], values, top=10**9)
                    cell[f"r_{name}"] = next(c["r"] for c in r if c["unit"] == cell["unit"])
    else:
        cells = [{**c, "property": name} for name, found in result["correlated"].items()
                 for c in found[:1]]  # fmt: skip
    out = Path(args.out)
    (out / "cells.html").write_text(heatmap_html(tokens, states, cells, model.vocab.level,
                                                 f"{label}: LSTM cells"), encoding="utf-8")  # fmt: skip
    figures = plot_saturation(result, out) + [str(out / "cells.html")]
    lines = []
    for i, layer in enumerate(result["saturation"]):
        lines.append(f"layer {i + 1}: " + ", ".join(
            f"{g.replace('_', ' ')} mean {v['mean']:.2f}, {v['mostly_open'] * 100:.0f}% of units "
            f"open > half the time, {v['mostly_closed'] * 100:.0f}% closed" for g, v in layer.items()))  # fmt: skip
    for name, found in result["correlated"].items():
        lines.append(f"{name}: " + ", ".join(f"layer {c['layer']} cell {c['unit']} r={c['r']:+.3f}"
                                             for c in found))  # fmt: skip
    result["heatmap_cells"] = cells
    return result, figures, lines


def cmd_probe(args: argparse.Namespace) -> None:
    from seqlm.probe import context_ablation, dependency_scores, gradient_flow
    from seqlm.probe.plots import plot_context, plot_dependency, plot_gradient_flow

    if args.probe in ("memory", "forget-bias"):
        return _probe_memory(args)
    if not args.models:
        raise SeqlmError(f"probe {args.probe} needs at least one MODEL")
    corpus = _probe_corpus(args)
    _check_writable(args.out)
    out = Path(args.out)
    results, lines = [], []
    for label, model in _probe_models(args, corpus):
        try:
            if args.probe == "gates":
                if len(args.models) != 1:
                    raise SeqlmError("probe gates takes one MODEL")
                r, figures, lines = _probe_gates(args, label, model, corpus)
            elif args.probe == "gradients":
                if model.kind == "ngram":
                    raise SeqlmError(f"{label}: an n-gram has no gradients")
                r = gradient_flow(model, corpus[args.split], args.distance, args.windows, args.seed)
                lines.append(f"{label:<22} hidden {r['hidden_decay_per_step']:+.4f} decades/step"
                             + (f", cell {r['cell_decay_per_step']:+.4f}" if "cell" in r else ""))  # fmt: skip
            elif args.probe == "context":
                r = context_ablation(model, corpus, args.split, samples=args.samples,
                                     shuffle_beyond=args.shuffle_beyond, seed=args.seed)  # fmt: skip
                lines.append(f"{label:<22} effective context {r['effective_context']}; loss by k: "
                             + ", ".join(f"{k}:{v:.3f}" for k, v in zip(r["k"], r["loss"], strict=True))
                             + f", all:{r['full_context_loss']:.3f}")  # fmt: skip
            else:
                r = dependency_scores(model, corpus, args.split)
                for kind, rows in r["kinds"].items():
                    lines.append(f"{label:<22} {kind}: " + ", ".join(
                        f"d>={row['from']}: {row['loss'] - row['floor']:+.3f}" for row in rows) + " nats over the floor")  # fmt: skip
        except ValueError as e:
            raise SeqlmError(str(e)) from None
        r["label"] = label
        results.append(r)
    if args.probe != "gates":
        plot = {"gradients": plot_gradient_flow, "context": plot_context,
                "dependency": plot_dependency}[args.probe]  # fmt: skip
        figures = plot(results, out)
    (out / f"{args.probe}.json").write_text(json.dumps(results, indent=2, default=str))
    _emit(args, {"probe": args.probe, "results": results, "figures": figures},
          "\n".join(lines + [f"wrote {out}/{args.probe}.json, " + ", ".join(Path(f).name for f in figures)]))  # fmt: skip


def cmd_export(args: argparse.Namespace) -> None:
    from seqlm.export import export_model
    from seqlm.models import load_model

    model = load_model(args.model, device="cpu")
    parent = Path(args.out).resolve().parent
    if not parent.is_dir():
        raise SeqlmError(f"cannot write {args.out}: {parent} is not a directory")
    path = export_model(model, args.model, args.format, args.out)
    size = path.stat().st_size
    _emit(args, {"out": str(path), "format": args.format, "bytes": size},
          f"wrote {path} ({args.format}, {size / 1e6:.1f} MB)")  # fmt: skip


# -- parser -----------------------------------------------------------------------------
class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit code 2), like every other error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="seqlm",
        description="Train, compare, understand and ship n-gram, RNN, LSTM and GRU language models.",
    )
    parser.add_argument("--version", action="version", version=f"seqlm {__version__}")
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=Parser
    )

    data = commands.add_parser("data", help="inspect corpora").add_subparsers(
        dest="data_command", metavar="SUBCOMMAND", required=True
    )
    stats = data.add_parser(
        "stats",
        help="token counts, vocabulary, OOV rate; the entropy floor of 'synthetic'",
        description="Print token counts, vocabulary size, OOV rates, type/token ratio and, for "
        "the synthetic corpus, the entropy floor no model can beat.",
    )
    _add_corpus_args(stats)
    stats.add_argument("--json", action="store_true", help="print one JSON object")
    stats.set_defaults(func=cmd_data_stats)

    ngram = commands.add_parser("ngram", help="count-based n-gram models").add_subparsers(
        dest="ngram_command", metavar="SUBCOMMAND", required=True
    )
    train = ngram.add_parser(
        "train",
        help="train an n-gram model (modified Kneser-Ney by default) and write ARPA",
        description="Count n-grams of CORPUS's training split, smooth them and write "
        "DIR/model.arpa (usable by KenLM, SRILM and ASR toolkits), vocab.json and config.json.",
    )
    _add_corpus_args(train)
    train.add_argument("--order", type=int, default=3, help="n (default 3)")
    train.add_argument("--smoothing", default="mkn", metavar="{mkn,kn,wb,add-k,ml}",
                       help="mkn: interpolated modified Kneser-Ney as KenLM (default); kn: one "
                       "discount per order; wb: Witten-Bell; add-k; ml: maximum likelihood "
                       "(unseen events get probability 0: perplexity inf)")  # fmt: skip
    train.add_argument("--k", type=float, default=1.0, help="k of add-k (default 1)")
    train.add_argument("--out", required=True, metavar="DIR", help="model directory to write")
    train.add_argument("--json", action="store_true", help="print one JSON object")
    train.set_defaults(func=cmd_ngram_train)

    tr = commands.add_parser(
        "train",
        help="train an RNN, LSTM or GRU language model",
        description="Train a recurrent LM with truncated BPTT. Defaults come from the corpus "
        "(ptb, tinyshakespeare, synthetic presets) or --preset, then --config FILE.toml, then "
        "the flags below. Checkpoints are atomic; Ctrl-C saves; --resume DIR continues exactly.",
    )
    tr.add_argument("--model", choices=["rnn", "lstm", "gru"], help="cell type (default lstm)")
    _add_corpus_args(tr, positional=False)
    tr.add_argument("--out", metavar="DIR", help="model directory to write")
    tr.add_argument("--resume", metavar="DIR", help="continue the run in DIR where it stopped")
    tr.add_argument("--preset", metavar="NAME",
                    help="start from these defaults instead of the corpus's: ptb, ptb-small "
                    "(Zaremba et al. 2014 small), tinyshakespeare, synthetic")  # fmt: skip
    tr.add_argument("--config", metavar="FILE", help="TOML file of settings ([train] table)")
    for name, (kind, text) in TRAIN_OPTIONS.items():
        flag = "--" + name.replace("_", "-")
        if kind is None:
            tr.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=text)
        else:
            tr.add_argument(flag, type=kind, default=None, help=text)
    tr.add_argument("--json", action="store_true", help="print one JSON object")
    tr.set_defaults(func=cmd_train)

    cmp = commands.add_parser(
        "compare",
        help="train and rank several models on one corpus, with an HTML report",
        description="Train (or reuse) each model on the same corpus and vocabulary, evaluate "
        "all with one convention and print a ranked table; --report writes an HTML page.",
    )
    _add_corpus_args(cmp)
    cmp.add_argument("--models", default="ngram:3,ngram:5,rnn,lstm,gru",
                     help="comma-separated: ngram:N[:smoothing], rnn, lstm, gru")  # fmt: skip
    cmp.add_argument(
        "--budget", default="10m", help="training time per neural model (90s, 10m, 1h)"
    )
    cmp.add_argument("--report", metavar="DIR", help="write report.html, report.json and plots")
    cmp.add_argument("--from", dest="root", metavar="DIR",
                     help="where models are kept and reused (default: the seqlm cache)")  # fmt: skip
    cmp.add_argument("--probes", action=argparse.BooleanOptionalAction, default=False,
                     help="also run the long-range lab (gradient flow, context ablation, "
                     "dependency scoring) on the models; its figures join the report")  # fmt: skip
    cmp.add_argument("--json", action="store_true", help="print one JSON object")
    cmp.set_defaults(func=cmd_compare)

    demo = commands.add_parser(
        "demo",
        help="compare every model on the built-in synthetic corpus (a few minutes, offline)",
        description="n-grams, RNN, LSTM and GRU on the built-in synthetic corpus, measured "
        "against its entropy floor; prints the table and writes an HTML report.",
    )
    demo.add_argument("--budget", default="25s", help="training time per neural model")
    demo.add_argument("--report", metavar="DIR", default="seqlm-demo", help="report directory")
    demo.add_argument("--from", dest="root", metavar="DIR", help="where models are kept")
    demo.add_argument("--probes", action=argparse.BooleanOptionalAction, default=True,
                      help="run the long-range lab on the models (default: yes)")  # fmt: skip
    demo.add_argument("--json", action="store_true", help="print one JSON object")
    demo.set_defaults(func=cmd_demo)

    probe = commands.add_parser(
        "probe",
        help="long-range lab: gradients, context, dependency, gates, memory, forget-bias",
        description="Measure what the source notes claim: gradients vanish in a plain RNN "
        "(gradients), how much past each model uses (context), and how each handles tokens "
        "fixed by a token far back, against the entropy floor (dependency; synthetic corpus); "
        "inside an LSTM: gate saturation and cells that track a property (gates); how long "
        "each cell holds a fact (memory: adding and copy tasks); forget-gate bias 0 vs 1.",
    )
    probe.add_argument("probe", choices=["gradients", "context", "dependency", "gates", "memory",
                                         "forget-bias"])  # fmt: skip
    probe.add_argument("models", nargs="*", metavar="MODEL",
                       help="model directories, ARPA files, or fresh:rnn|lstm|gru (untrained)")  # fmt: skip
    probe.add_argument("--data", dest="corpus", metavar="CORPUS", help="corpus (default synthetic)")
    probe.add_argument("--split", default="test", choices=["train", "valid", "test"])
    probe.add_argument(
        "--out", default="seqlm-probe", metavar="DIR", help="where JSON and plots go"
    )
    probe.add_argument("--distance", type=int, default=50, help="gradients: steps back (K)")
    probe.add_argument("--windows", type=int, default=32, help="gradients: windows averaged")
    probe.add_argument("--samples", type=int, default=400, help="context: target tokens scored")
    probe.add_argument("--shuffle-beyond", type=int, metavar="D",
                       help="context: shuffle the tokens further back than D")  # fmt: skip
    probe.add_argument("--text", metavar="FILE", help="gates: the text to read (default: --split)")
    probe.add_argument("--tokens", type=int, default=2000, help="gates: tokens of text read")
    probe.add_argument("--property", metavar="P[,P]",
                       help="gates: line_position, in_quotes, bracket_depth (default: all)")  # fmt: skip
    probe.add_argument("--cells", metavar="L:U[,L:U]",
                       help="gates: cells for the heatmap (default: the best-correlated)")  # fmt: skip
    probe.add_argument("--cell", default="rnn,lstm,gru", help="memory: cell types (default all)")
    probe.add_argument("--task", default="both", choices=["adding", "copy", "both"],
                       help="memory, forget-bias: which task")  # fmt: skip
    probe.add_argument("--lengths", metavar="T[,T]",
                       help="memory: T ladder (default 10,20,50,100,200, then doubling while "
                       "solved); forget-bias: lengths (default 50,100)")  # fmt: skip
    probe.add_argument("--steps", type=int, help="memory: training steps per length, at most")
    probe.add_argument("--seed", type=int, default=0)
    probe.add_argument("--json", action="store_true", help="print one JSON object")
    probe.set_defaults(func=cmd_probe)

    ev = commands.add_parser(
        "eval",
        help="perplexity of any saved model on a corpus split",
        description="Perplexity (and bits/char for character models) of a saved model "
        "(n-gram or neural, or any ARPA file), counting every predicted token including <eos>.",
    )
    ev.add_argument("model", metavar="MODEL", help="a model directory or an ARPA file")
    ev.add_argument("--data", dest="corpus", metavar="CORPUS",
                    help="corpus (default: the one the model was trained on)")  # fmt: skip
    ev.add_argument("--split", default="test", choices=["train", "valid", "test"])
    ev.add_argument("--level", choices=["word", "char"], help=argparse.SUPPRESS)
    ev.add_argument("--max-vocab", type=int, help=argparse.SUPPRESS)
    ev.add_argument("--min-count", type=int, default=1, help=argparse.SUPPRESS)
    ev.add_argument("--split-fractions", help=argparse.SUPPRESS)
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.set_defaults(func=cmd_eval)

    exp = commands.add_parser(
        "export",
        help="write a model for other runtimes: ONNX, TorchScript, ARPA",
        description="A neural LM becomes a step function with explicit state (tokens and "
        "each layer's state in; log-probabilities and the new state out) in ONNX or "
        "TorchScript, for streaming inference; an n-gram model becomes an ARPA file.",
    )
    exp.add_argument("model", metavar="MODEL", help="a model directory")
    exp.add_argument("--format", required=True, choices=["onnx", "torchscript", "arpa"])
    exp.add_argument("--out", required=True, metavar="FILE")
    exp.add_argument("--json", action="store_true", help="print one JSON object")
    exp.set_defaults(func=cmd_export)

    gen = commands.add_parser(
        "generate",
        help="sample text from any saved model",
        description="Stream text sampled from a saved model. --temperature 0 is greedy.",
    )
    gen.add_argument("model", metavar="MODEL", help="a model directory or an ARPA file")
    gen.add_argument("--prompt", default="", help="text to continue")
    gen.add_argument("--max-tokens", type=int, default=50)
    gen.add_argument("--temperature", type=float, default=1.0)
    gen.add_argument("--top-k", type=int)
    gen.add_argument("--top-p", type=float)
    gen.add_argument("--seed", type=int)
    gen.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                     help="weights of a neural model's step: bf16 is ~2.5x faster on a CPU, "
                          "log-probs within a few hundredths of a nat (default fp32: exact)")  # fmt: skip
    gen.add_argument("--json", action="store_true", help="print one JSON object at the end")
    gen.set_defaults(func=cmd_generate)
    return parser


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"seqlm: warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    import warnings

    warnings.showwarning = _one_line_warning
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except SeqlmError as e:
        print(f"seqlm: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("seqlm: interrupted", file=sys.stderr)
        return 130
    return 0
