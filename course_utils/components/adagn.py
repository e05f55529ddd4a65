"""Adaptive group normalization (AdaGN): GroupNorm whose scale and shift come from t.

Follows Dhariwal & Nichol, "Diffusion Models Beat GANs on Image Synthesis" (2021),
section 3: ``AdaGN(h, y) = y_s * GroupNorm(h) + y_b``, written here in the
``(1 + gamma) * GroupNorm(h) + beta`` form, so that a zero projection leaves the
normalised features unchanged. The module matches diffusers' ``AdaGroupNorm`` with
``act_fn=None`` (GroupNorm without affine parameters, one Linear on the embedding as
given). guided-diffusion's ``use_scale_shift_norm`` path differs: it applies SiLU to
the embedding before the projection and keeps GroupNorm's own affine parameters.
Normalisation: Wu & He, "Group Normalization" (ECCV 2018).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["AdaGN"]


class AdaGN(nn.Module):
    """``(1 + gamma(t)) * GroupNorm(x) + beta(t)`` with ``gamma, beta`` shaped ``[B, C, 1, 1]``.

    GroupNorm's statistics are computed per sample (over each group's channels and
    pixels), never across the batch, so the layer behaves the same at any batch size.
    Its only parameters are those of the projection: ``d_emb * 2C + 2C``.
    """

    def __init__(self, num_channels: int, d_emb: int, num_groups: int = 32) -> None:
        super().__init__()
        if num_channels % num_groups != 0:
            raise ValueError(f"num_channels ({num_channels}) must be divisible by num_groups ({num_groups})")
        self.norm = nn.GroupNorm(num_groups, num_channels, eps=1e-5, affine=False)
        self.proj = nn.Linear(d_emb, 2 * num_channels)

    def forward(self, x: torch.Tensor, t_emb: torch.Tensor) -> torch.Tensor:
        """``x [B, C, H, W]`` and ``t_emb [B, d_emb]`` -> ``[B, C, H, W]``."""
        if x.dim() != 4 or t_emb.dim() != 2 or x.shape[0] != t_emb.shape[0]:
            raise ValueError(
                "AdaGN expects x [B, C, H, W] and t_emb [B, d_emb] with the same B, "
                f"got x {tuple(x.shape)} and t_emb {tuple(t_emb.shape)}"
            )
        h = self.norm(x)
        gamma, beta = self.proj(t_emb).chunk(2, dim=-1)  # (B, 2C) -> 2 x (B, C)
        gamma = gamma[:, :, None, None]  # (B, C) -> (B, C, 1, 1)
        beta = beta[:, :, None, None]  # (B, C) -> (B, C, 1, 1)
        return (1 + gamma) * h + beta
