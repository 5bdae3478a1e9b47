"""Which unit ranks a comparison, and where models with a closed vocabulary stand.

Perplexity per token ranks models that share a tokenizer (they predict the same tokens).
Models tokenized differently predict different streams, so they are ranked by what they
share: bits per byte of the original text. A model that scores some of the text as
`<unk>` predicts one symbol where an open-vocabulary model must spell out a rare word,
which flatters it; such models are ranked among themselves, below the open-vocabulary
ones, with their `<unk>` share shown.
"""

from __future__ import annotations

import math

# a split's figures averaged over seeds (with their sd) in a comparison's rows
FIGURES = (
    "nats_per_token",
    "perplexity",
    "bits_per_char",
    "gap_nats",
    "bits_per_byte",
    "perplexity_per_word",
)


def tokenizer_of(model) -> str:
    """The name of the model's tokenizer (its vocabulary's, else its level)."""
    vocab = model.vocab
    name = getattr(vocab, "tokenizer_name", None)
    if not isinstance(name, str):
        name = getattr(getattr(vocab, "tokenizer", None), "name", None)
    return name if isinstance(name, str) else f"whitespace-{vocab.level}"


def _closed(row: dict) -> bool:
    return (row["test"].get("unk_share") or 0.0) > 0


def rank_rows(rows: list[dict]) -> dict:
    """Sort `rows` best first in place; returns the rule: the ranking unit ("perplexity"
    or "bits_per_byte"), whether closed-vocabulary models were set apart, and the note
    that states it under the table."""
    tokenizers = sorted({r.get("tokenizer", "") for r in rows})
    unit = "bits_per_byte" if len(tokenizers) > 1 else "perplexity"
    key = "bits_per_byte" if unit == "bits_per_byte" else "nats_per_token"
    closed = [_closed(r) for r in rows]
    apart = any(closed) and not all(closed)  # all closed alike: one group, as usual

    def order(row: dict) -> tuple:
        value = row["test"].get(key)
        return (apart and _closed(row), value if value is not None else math.inf)

    rows.sort(key=order)
    if unit == "bits_per_byte":
        note = (
            f"ranked by test bits per byte: the tokenizers differ ({', '.join(tokenizers)}), "
            "so perplexities per token are not comparable"
        )
    else:
        note = "ranked by test perplexity (one tokenizer: every model predicts the same tokens)"
    if apart:
        note += (
            "; models that read some test tokens as <unk> (share shown) score an easier "
            "task: they are ranked among themselves, below the open-vocabulary ones"
        )
    elif any(closed):
        share = max(r["test"]["unk_share"] for r in rows)
        note += f"; up to {share:.2%} of the test tokens are <unk> for every model alike"
    return {"unit": unit, "closed_apart": apart, "tokenizers": tokenizers, "note": note}
