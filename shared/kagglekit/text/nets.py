"""Text nets: a recurrent classifier over word ids and a pretrained encoder with a head."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from kagglekit.errors import KKError, unknown_name
from kagglekit.models.base import require

require("torch", "nlp")
import torch  # noqa: E402
from torch import nn  # noqa: E402

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}


def vectors_for(words: list[str], wv: Any, *, seed: int) -> np.ndarray:
    """(V, d) embedding rows: word2vec's vector where it has the word, small noise else."""
    rng = np.random.default_rng(seed)
    out = rng.normal(0, 0.1, size=(len(words), wv.vector_size)).astype(np.float32)
    out[0] = 0  # padding
    for i, w in enumerate(words):
        if w in wv.key_to_index:
            out[i] = wv.vectors[wv.key_to_index[w]]
    return out


class RecurrentNet(nn.Module):
    """Embedding -> bidirectional LSTM/GRU (packed) -> [max; mean] pooling -> linear."""

    def __init__(
        self, *, vocab_size: int, n_outputs: int, embed_dim: int = 100, hidden: int = 128,
        layers: int = 1, cell: str = "lstm", dropout: float = 0.3,
        vectors: np.ndarray | None = None, freeze: bool = False,
    ) -> None:  # fmt: skip
        super().__init__()
        if cell not in CELLS:
            raise unknown_name("cell", cell, CELLS)
        if hidden < 1 or layers < 1 or embed_dim < 1:
            raise KKError("hidden, layers and embed_dim must be >= 1; try 128, 1, 100")
        if not 0 <= dropout < 1:
            raise KKError(f"dropout = {dropout} must be in [0, 1); try 0.3")
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        if vectors is not None:
            self.embed.weight.data.copy_(torch.from_numpy(vectors))
            self.embed.weight.requires_grad = not freeze
        self.rnn = CELLS[cell](
            embed_dim, hidden, num_layers=layers, batch_first=True, bidirectional=True,
            dropout=dropout if layers > 1 else 0.0,
        )  # fmt: skip
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(4 * hidden, n_outputs)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        ids = batch["ids"]  # (B, T)
        mask = ids != 0
        lengths = mask.sum(dim=1).clamp(min=1)
        x = self.drop(self.embed(ids))  # (B, T, E)
        packed = nn.utils.rnn.pack_padded_sequence(
            x, lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        out, _ = self.rnn(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=ids.shape[1])
        m = mask[:, : out.shape[1]].unsqueeze(-1)  # (B, T, 1)
        mean = (out * m).sum(dim=1) / lengths.unsqueeze(-1)  # (B, 2H)
        peak = out.masked_fill(~m, -1e4).max(dim=1).values  # (B, 2H)
        return self.head(self.drop(torch.cat([peak, mean], dim=1)))  # (B, n_outputs)


_LAYER = re.compile(r"(?:^|\.)layers?\.(\d+)\.")


class EncoderNet(nn.Module):
    """A Hugging Face encoder (``AutoModel.from_pretrained``), masked mean pooling, a head.

    Mean pooling is how sentence-transformers trained MiniLM, so its pretrained sentence
    space is the starting point of the fine-tuning.
    """

    def __init__(self, path: str, n_outputs: int, *, dropout: float = 0.1) -> None:
        super().__init__()
        transformers = require("transformers", "nlp")
        self.encoder = transformers.AutoModel.from_pretrained(path)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(self.encoder.config.hidden_size, n_outputs)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        mask = batch["attention_mask"]  # (B, T)
        extra = {"token_type_ids": batch["token_type_ids"]} if "token_type_ids" in batch else {}
        hidden = self.encoder(
            input_ids=batch["input_ids"], attention_mask=mask, **extra
        ).last_hidden_state
        m = mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
        pooled = (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1)  # (B, H)
        return self.head(self.drop(pooled))  # (B, n_outputs)

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """The parameters by depth, bottom first, for layer-wise lr decay: the embeddings,
        each numbered encoder layer (``....layer.N.`` in BERT-style names, ``layers.N.``
        in others), then everything else (pooler, final norm, the head) on top."""
        below: dict[int, list[nn.Parameter]] = {}
        top: list[nn.Parameter] = list(self.head.parameters())
        for name, param in self.encoder.named_parameters():
            layer = _LAYER.search(name)
            if layer is not None:
                below.setdefault(int(layer.group(1)) + 1, []).append(param)
            elif "embeddings" in name:
                below.setdefault(0, []).append(param)
            else:
                top.append(param)
        return [below[depth] for depth in sorted(below)] + [top]
