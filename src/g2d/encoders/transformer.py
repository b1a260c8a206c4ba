"""A Transformer encoder for (T, F) feature sequences, with padding masks for variable length.

The input is projected to ``width`` channels by a 1-D convolution over time (kernel
``kernel_size``, as the paper's encoder for UR-Funny/IEMOCAP features), sinusoidal positions are
added, ``layers`` pre-norm Transformer layers with ``heads`` heads follow, then a LayerNorm and a
pooling over time: ``mean`` (over the real steps only) or ``first`` (a learnt [CLS] token is put
in front of the sequence and its output is the feature). Paper: 4 layers, 8 heads, width 768.

The padding mask is (B, T) bool, True where a step is real. Padded steps are zeroed before the
convolution (so they do not leak into real neighbours), cannot be attended to, and are left out
of the mean.

Token ids (text): with ``vocab_size`` set the per-sample input is a (T,) row of token ids, id 0 the
padding; an embedding table of ``vocab_size`` rows × ``width`` replaces the convolution, and the
padding mask is ``ids != 0`` (and the batch's mask, when it has one).
"""
from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import Field, model_validator
from torch import Tensor, nn

from g2d.encoders.registry import ENCODERS, init_weights
from g2d.registry import Options
from g2d.validation import DataError


class TransformerOptions(Options):
    layers: int = Field(2, gt=0, description="Transformer layers (paper: 4)")
    heads: int = Field(4, gt=0, description="attention heads (paper: 8)")
    width: int = Field(128, gt=0, description="model width, divisible by heads (paper: 768)")
    ff_mult: int = Field(4, gt=0, description="feed-forward width = ff_mult · width")
    kernel_size: int = Field(3, gt=0, description="kernel of the conv1d input projection (odd)")
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    pooling: Literal["mean", "first"] = Field("mean", description="mean over real steps, or a [CLS] token")
    vocab_size: int | None = Field(None, gt=1, description="token ids in: an embedding table of this many rows "
                                   "(id 0 = padding) instead of the conv1d projection")

    @model_validator(mode="after")
    def _consistent(self) -> "TransformerOptions":
        if self.width % self.heads:
            raise ValueError(f"width: must be divisible by heads={self.heads}, got {self.width}")
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size: must be odd so the sequence keeps its length, got {self.kernel_size}")
        return self


def sinusoidal_positions(length: int, width: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    """(length, width) sine/cosine position codes (Vaswani et al. 2017)."""
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, width, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / width))
    codes = torch.zeros(length, width, device=device)
    codes[:, 0::2] = torch.sin(pos * freq)
    codes[:, 1::2] = torch.cos(pos * freq)[:, : width // 2]
    return codes.to(dtype)


class SequenceTransformer(nn.Module):
    """``forward(x, mask=None)``: (B, T, F) [+ (B, T) bool mask] -> (B, width)."""

    uses_mask = True

    def __init__(self, input_shape: tuple[int, ...], opts: TransformerOptions) -> None:
        super().__init__()
        expected = 1 if opts.vocab_size else 2
        if len(input_shape) != expected:
            what = "row of token ids (T,)" if opts.vocab_size else "sequence (T, F)"
            raise DataError(f"encoder 'transformer' expects a per-sample {what}, got shape "
                            f"{tuple(input_shape)} ({len(input_shape)}-D)")
        self.input_shape, self.pooling, self.out_dim = tuple(input_shape), opts.pooling, opts.width
        self.vocab_size = opts.vocab_size
        self.embed = nn.Embedding(opts.vocab_size, opts.width, padding_idx=0) if opts.vocab_size else None
        self.project = None if opts.vocab_size else nn.Conv1d(input_shape[1], opts.width, opts.kernel_size,
                                                              padding=opts.kernel_size // 2)
        self.cls = nn.Parameter(torch.zeros(1, 1, opts.width)) if opts.pooling == "first" else None
        layer = nn.TransformerEncoderLayer(opts.width, opts.heads, opts.ff_mult * opts.width, opts.dropout,
                                           batch_first=True, norm_first=True)
        self.layers = nn.TransformerEncoder(layer, opts.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(opts.width)
        init_weights(self)
        if self.cls is not None:
            nn.init.normal_(self.cls, std=0.02)

    def check(self, x: Tensor, mask: Tensor | None) -> Tensor:
        """Validate shapes; return the (B, T) bool mask (all True when none was given)."""
        if x.dim() != 3 or x.shape[-1] != self.input_shape[1]:
            raise DataError(f"encoder 'transformer': expected a batch of shape (B, T, {self.input_shape[1]}), "
                            f"got {tuple(x.shape)}")
        if mask is None:
            return torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        return self.check_mask(mask, tuple(x.shape[:2]))

    @staticmethod
    def check_mask(mask: Tensor, shape: tuple[int, ...]) -> Tensor:
        """The (B, T) padding mask as bool; named errors for a wrong shape or a row without a real step."""
        if tuple(mask.shape) != tuple(shape):
            raise DataError(f"encoder 'transformer': expected a padding mask of shape {tuple(shape)} "
                            f"(B, T), got {tuple(mask.shape)}")
        mask = mask.bool()
        empty = ~mask.any(1)
        if empty.any():
            raise DataError(f"encoder 'transformer': sequences at batch rows {empty.nonzero().flatten().tolist()} "
                            "have no real step (their mask is all False)")
        return mask

    def embed_tokens(self, ids: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        """(B, T) token ids -> ((B, T, width) embeddings, (B, T) bool mask of the real tokens)."""
        if ids.dim() != 2 or ids.shape[1] != self.input_shape[0]:
            raise DataError(f"encoder 'transformer': expected token ids of shape (B, {self.input_shape[0]}), "
                            f"got {tuple(ids.shape)}")
        ids = ids.long()
        if ids.min() < 0 or ids.max() >= self.vocab_size:
            raise DataError(f"encoder 'transformer': token ids must lie in [0, {self.vocab_size}) "
                            f"(vocab_size), got [{int(ids.min())}, {int(ids.max())}]")
        real = ids != 0 if mask is None else (ids != 0) & mask.bool()
        return self.embed(ids), self.check_mask(real, tuple(ids.shape))

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        if self.embed is not None:
            h, mask = self.embed_tokens(x, mask)
        else:
            mask = self.check(x, mask)
            x = x * mask[..., None].to(x.dtype)  # padded steps must not leak through the conv
            h = self.project(x.transpose(1, 2)).transpose(1, 2)  # (B, T, width)
        h = h + sinusoidal_positions(h.shape[1], h.shape[2], h.device, h.dtype)
        if self.cls is not None:
            h = torch.cat([self.cls.expand(h.shape[0], -1, -1).to(h.dtype), h], dim=1)  # (B, 1 + T, width)
            mask = torch.cat([mask.new_ones(mask.shape[0], 1), mask], dim=1)
        h = self.norm(self.layers(h, src_key_padding_mask=~mask))
        if self.pooling == "first":
            return h[:, 0]
        weights = mask[..., None].to(h.dtype)
        return (h * weights).sum(1) / weights.sum(1)


@ENCODERS.register("transformer", options=TransformerOptions)
def transformer(options: TransformerOptions, input_shape: tuple[int, ...]) -> SequenceTransformer:
    """Transformer for (T, F) feature sequences: conv1d projection, padding masks, mean/first pooling."""
    return SequenceTransformer(tuple(input_shape), options)
