"""The API's request and response bodies (pydantic): what /openapi.json documents."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is a 422, not ignored

    @field_validator("*")
    @classmethod
    def _unicode(cls, value):
        """JSON may spell a lone surrogate (\\ud800), which no text can hold: a 422 here,
        not a 500 when the tokenizer or the response meets it."""
        for v in value if isinstance(value, list) else [value]:
            if isinstance(v, str):
                try:
                    v.encode("utf-8")
                except UnicodeEncodeError as e:
                    raise ValueError(f"not valid Unicode (a lone surrogate at {e.start})") from None
        return value


class ModelInfo(BaseModel):
    name: str
    kind: str = Field(
        description="ngram, or the cell: rnn, lstm, gru, slstm, mlstm, transformer, ..."
    )
    label: str = Field(description="e.g. 5-gram, lstm")
    level: str = Field(description="what a token is: word, char, byte or subword")
    tokenizer: str = Field(description="whitespace, words, chars, bytes or bpe:N")
    vocab_size: int
    parameters: int
    corpus: str | None = Field(description="the corpus it was trained on, if recorded")
    test_perplexity: float | None = Field(description="on its corpus's test split, if known")
    test_bits_per_byte: float | None = Field(
        None, description="on the same split: bits per byte of its text, across tokenizers"
    )
    valid_perplexity: float | None = Field(
        description="on its corpus's validation split (recurrent models: the best in training)"
    )
    gates: bool = Field(description="an LSTM, sLSTM or mLSTM: /gates and /patterns apply")


class Limits(BaseModel):
    max_chars: int
    max_tokens: int
    timeout_s: float


class ModelsResponse(BaseModel):
    models: list[ModelInfo]
    limits: Limits


class ScoreRequest(Strict):
    text: str = Field(description="the text to score; every line ends with <eos>")
    models: list[str] | None = Field(None, description="model names (default: all)")
    top_k: int = Field(5, ge=1, le=50, description="alternatives per token")


class Alternative(BaseModel):
    token: str
    prob: float


class ModelScores(BaseModel):
    tokens: list[str]
    log_probs: list[float | None] = Field(description="ln P(token | all before it); null: 0")
    surprisal_bits: list[float | None] = Field(description="-log2 P(token | all before it)")
    ranks: list[int] = Field(description="1 + how many tokens the model found likelier")
    top: list[list[Alternative]] = Field(description="the model's top-k at each position")
    oov: list[bool] = Field(description="not in the model's vocabulary (scored as <unk>)")
    spans: list[list[int]] = Field(description="each token's [start, end) in the text")
    perplexity: float | None


class ScoreResponse(BaseModel):
    scores: dict[str, ModelScores]


class NextRequest(Strict):
    prefix: str = ""
    models: list[str] | None = None
    k: int = Field(10, ge=1, le=100)


class NextResponse(BaseModel):
    next: dict[str, list[Alternative]]


class GenerateRequest(Strict):
    model: str
    prompt: str = ""
    max_tokens: int = Field(50, ge=0)
    temperature: float = Field(1.0, ge=0, le=100)
    top_k: int | None = Field(None, ge=1)
    top_p: float | None = Field(None, gt=0, le=1)
    seed: int | None = Field(None, ge=0, lt=2**63)


class GatesRequest(Strict):
    model: str
    text: str
    cells: list[str] | None = Field(
        None,
        description="LAYER:UNIT (layers from 1); default: "
        "the cells whose state varies most over the text",
    )
    top: int = Field(8, ge=1, le=64, description="how many cells when none are chosen")


class CellTrack(BaseModel):
    layer: int
    unit: int
    input_gate: list[float]
    forget_gate: list[float]
    output_gate: list[float]
    cell_state: list[float] = Field(description="c (sLSTM: c/n; mLSTM: the read-out C q)")
    normalizer_state: list[float] | None = Field(None, description="sLSTM: n")
    memory_norm: list[float] | None = Field(None, description="mLSTM: ‖C‖ / ‖n‖ of its head")


class ProbeCell(BaseModel):
    layer: int
    unit: int
    r: float


class GatesResponse(BaseModel):
    model: str
    kind: str
    memory_rows: list[str] = Field(
        description="the cells' rows besides gates and cell state (normalizer_state, memory_norm)"
    )
    tokens: list[str]
    layers: int
    units: list[int]
    cells: list[CellTrack]
    forget_mean: list[list[float]] = Field(description="per layer, mean forget gate per token")
    probe_cells: dict[str, list[ProbeCell]] = Field(
        description="the gates probe's cells for line position, quotes, brackets"
    )


class PatternRequest(Strict):
    model: str
    text: str
    start: int = Field(ge=0, description="first token of the selected span")
    end: int = Field(ge=0, description="last token of the span (inclusive)")
    threshold: float = Field(0.3, gt=-1, lt=1, description="a cell is on when tanh(c) > this")
    layer: int | None = Field(None, ge=1, description="only this layer's cells (default: all)")
    limit: int = Field(10, ge=1, le=50)


class CellRef(BaseModel):
    layer: int
    unit: int


class PatternMatch(BaseModel):
    split: str
    position: int
    score: int = Field(description="pattern cells on throughout the span")
    tokens: list[str]
    match_start: int
    match_end: int


class PatternResponse(BaseModel):
    model: str
    tokens: list[str]
    start: int
    end: int
    threshold: float
    cells: list[CellRef]
    matches: list[PatternMatch]


class SampleResponse(BaseModel):
    text: str
    tokens: list[str]
    split: str
    position: int
    marks: dict[str, list[int]] | None = Field(
        description="synthetic corpus: dep_kind (0 none, 1 agreement, 2 bracket), dep_distance"
    )
