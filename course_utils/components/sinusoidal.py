"""Sinusoidal timestep embedding, the course's reference implementation.

The encoding is the positional encoding of Vaswani et al., "Attention Is All You
Need" (2017), applied to the diffusion timestep as in Ho et al., "Denoising
Diffusion Probabilistic Models" (2020). The course's convention (lesson 01 teaches it and
its hidden tests check it):

* ``half = d_emb // 2`` and ``omega_i = max_period ** (-i / half)`` for ``i = 0..half-1``;
* output ``[sin(t * omega), cos(t * omega)]`` concatenated on the last dim;
* an odd ``d_emb`` gets one zero column appended;
* float32 output whatever ``t``'s dtype, on ``t``'s device, shape ``[B, d_emb]``.

Other codebases differ by a fixed permutation or a slightly different frequency
grid (DDPM divides by ``half - 1``; guided-diffusion puts ``cos`` first); lesson 01
explains why a following Linear layer makes those differences harmless.
"""

from __future__ import annotations

import math
import torch

from course_utils.diffusion.timesteps import as_times

__all__ = ["sinusoidal_embedding"]


def sinusoidal_embedding(
    t: torch.Tensor | float | int, d_emb: int = 256, *, max_period: float = 10000.0
) -> torch.Tensor:
    """Embed timesteps ``t`` as ``[sin(t*omega), cos(t*omega)]`` of width ``d_emb``.

    Args:
        t: timesteps, a Python number, a 0-d tensor or a 1-d tensor ``[B]`` of any
            real dtype. Fractional values are allowed (continuous time).
        d_emb: embedding width, at least 2. An odd width gets a zero last column.
        max_period: the base of the frequency grid (10000 as in the Transformer).

    Returns:
        float32 tensor ``[B, d_emb]`` on ``t``'s device.
    """
    if isinstance(d_emb, bool) or not isinstance(d_emb, int) or d_emb < 2:
        raise ValueError(f"d_emb must be an int >= 2, got {d_emb!r}")
    if not max_period > 0:
        raise ValueError(f"max_period must be positive, got {max_period!r}")
    t = as_times(t, kind="discrete")  # (B,) float32, fractional steps kept
    half = d_emb // 2
    # The frequencies are made on t's device, in float32, so that t on a GPU (or the
    # meta device) never meets a CPU tensor.
    i = torch.arange(half, dtype=torch.float32, device=t.device)
    omega = torch.exp(-math.log(max_period) * i / half)  # (half,)
    angles = t[:, None] * omega[None, :]  # (B, 1) * (1, half) -> (B, half)
    emb = torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)  # (B, 2*half)
    if d_emb % 2 == 1:
        emb = torch.nn.functional.pad(emb, (0, 1))  # (B, 2*half) -> (B, d_emb)
    return emb
