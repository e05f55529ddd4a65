"""The timestep MLP: sinusoidal encoding followed by Linear -> GELU -> Linear.

This is the time-embedding block of the DDPM U-Net (Ho et al., 2020, and its
reference code), with the widths the course uses: a 256-wide sinusoidal encoding
lifted to a 512-wide embedding that every block of the network reads.
Parameters: 256*512 + 512 + 512*512 + 512 = 394,240.
"""

from __future__ import annotations

import torch
from torch import nn

from course_utils.components.sinusoidal import sinusoidal_embedding

__all__ = ["TimestepEmbedding"]


class TimestepEmbedding(nn.Module):
    """``t -> sinusoidal(t, d_sinusoidal) -> Linear -> GELU (exact) -> Linear -> [B, d_emb]``."""

    def __init__(self, d_sinusoidal: int = 256, d_emb: int = 512) -> None:
        super().__init__()
        if d_sinusoidal < 2 or d_emb < 1:
            raise ValueError(f"need d_sinusoidal >= 2 and d_emb >= 1, got {d_sinusoidal} and {d_emb}")
        self.d_sinusoidal = d_sinusoidal
        self.d_emb = d_emb
        self.mlp = nn.Sequential(
            nn.Linear(d_sinusoidal, d_emb),
            nn.GELU(),  # exact (erf) GELU, not the tanh approximation
            nn.Linear(d_emb, d_emb),
        )

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        """Map timesteps ``[B]`` (or a number) to embeddings ``[B, d_emb]``."""
        return self.mlp(sinusoidal_embedding(t, self.d_sinusoidal).to(self.mlp[0].weight.dtype))
