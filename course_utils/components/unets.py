"""The small MNIST U-Nets that lesson 04 compares, differing only in time conditioning.

The spatial network is the original notebook's minimal U-Net (after Ronneberger, Fischer
and Brox, "U-Net: Convolutional Networks for Biomedical Image Segmentation", 2015):
conv blocks of Conv-BatchNorm-ReLU twice, an encoder of 32/64/128 channels at
28/14/7 pixels, a 256-channel bottleneck, transposed-convolution upsampling and
skip concatenations. Three networks add one time vector to the bottleneck, as the
original notebook does; they differ in how that vector is made:

* :class:`UNetSimple`: ``t / T`` through Linear(1,128)-ReLU-Linear(128,128),
  added to the first 128 of the 256 bottleneck channels (the original notebook's
  "capstone" model). The original notebook wrote that addition in place into a ReLU
  output, which breaks ``backward()``; here the 128-d vector is zero-padded to 256 and
  added out of place.
* :class:`UNetSinusoidal`: the sinusoidal + MLP :class:`TimestepEmbedding` (256 -> 512)
  of Ho et al. (2020), projected by Linear(512, 256) onto all 256 channels.
* :class:`UNetScalar`: exactly :class:`UNetSinusoidal`'s time path and injection, except
  that the MLP reads the scalar ``t / T`` (its first layer is Linear(1, 512) instead of
  Linear(256, 512)). ``UNetScalar`` vs ``UNetSinusoidal`` therefore differ in the encoding
  alone; ``UNetSimple`` vs ``UNetSinusoidal`` differ in the encoding, the MLP's width and
  the number of channels that receive time.

These three share :class:`BottleneckTimeUNet`, which builds the spatial layers *before*
the time layers, so that under the same ``torch.manual_seed`` they start from identical
convolution weights. Parameter names match the original notebook's, so a state dict
moves between these classes and a learner's hand-written copies.

:class:`UNetAdaGN` is what production diffusion U-Nets do (Dhariwal & Nichol, 2021;
lesson 03): the same encoder / decoder widths, but every conv block normalises with
:class:`~course_utils.components.adagn.AdaGN` (GroupNorm, Wu & He 2018, whose scale and shift come
from the sinusoidal + MLP embedding) instead of BatchNorm, so time conditions every block.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.components.adagn import AdaGN
from course_utils.components.timestep_mlp import TimestepEmbedding
from course_utils.diffusion.timesteps import as_times

__all__ = [
    "ConvBlock",
    "SimpleTimestepEmbed",
    "ScalarTimestepEmbedding",
    "BottleneckTimeUNet",
    "UNetSimple",
    "UNetSinusoidal",
    "UNetScalar",
    "AdaGNConvBlock",
    "UNetAdaGN",
    "count_parameters",
]

BOTTLENECK_CHANNELS = 256


class ConvBlock(nn.Module):
    """(Conv3x3 -> BatchNorm -> ReLU) twice; keeps the spatial size."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(),
            nn.Conv2d(out_ch, out_ch, kernel_size=3, padding=1),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class SimpleTimestepEmbed(nn.Module):
    """The original notebook's "simple" conditioning: scale t to [0, 1), then Linear-ReLU-Linear."""

    def __init__(self, d_emb: int = 128, num_timesteps: int = 1000) -> None:
        super().__init__()
        if d_emb < 1 or num_timesteps < 1:
            raise ValueError(f"need d_emb >= 1 and num_timesteps >= 1, got {d_emb}, {num_timesteps}")
        self.num_timesteps = num_timesteps
        self.mlp = nn.Sequential(nn.Linear(1, d_emb), nn.ReLU(), nn.Linear(d_emb, d_emb))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        t = as_times(t, kind="discrete", device=self.mlp[0].weight.device)
        t_unit = (t / self.num_timesteps).unsqueeze(1)  # (B,) -> (B, 1)
        return self.mlp(t_unit.to(self.mlp[0].weight.dtype))  # (B, 1) -> (B, d_emb)


class ScalarTimestepEmbedding(SimpleTimestepEmbed):
    """:class:`TimestepEmbedding`'s MLP (Linear -> GELU -> Linear) fed the scalar ``t / T``.

    ``mlp.0`` is Linear(1, d_emb) where :class:`TimestepEmbedding` has Linear(d_sinusoidal,
    d_emb); every other parameter has the same name and shape. It is :class:`SimpleTimestepEmbed`
    (same forward, same parameters in the same order) with GELU for ReLU and a 512-wide default.
    """

    def __init__(self, d_emb: int = 512, num_timesteps: int = 1000) -> None:
        super().__init__(d_emb, num_timesteps)
        self.d_emb = d_emb
        self.mlp[1] = nn.GELU()  # TimestepEmbedding's activation (parameter-free: no init is drawn)


def _checked_inputs(x: torch.Tensor, t: torch.Tensor | int | float) -> torch.Tensor:
    """Check the images ``x`` ``[B, 1, H, W]`` (H, W divisible by 4: two poolings) and return ``t``
    as discrete timesteps ``[B]`` on ``x``'s device."""
    if x.dim() != 4 or x.shape[1] != 1 or x.shape[-2] % 4 or x.shape[-1] % 4:
        raise ValueError(f"x must be [B, 1, H, W] with H and W divisible by 4, got shape {tuple(x.shape)}")
    t = as_times(t, kind="discrete", device=x.device)
    if t.shape[0] != x.shape[0]:
        raise ValueError(f"t must be 1-D [batch] with batch {x.shape[0]}, got shape {tuple(t.shape)}")
    return t


class BottleneckTimeUNet(nn.Module):
    """The original notebook's minimal U-Net; subclasses say how t becomes a 256-d bottleneck offset.

    Input ``x`` ``[B, 1, 28, 28]`` and timesteps ``t`` ``[B]``; output ``[B, 1, 28, 28]``
    (the predicted noise). Subclasses build their time layers in ``__init__`` after
    calling ``super().__init__()`` and implement :meth:`time_offset`.
    """

    def __init__(self) -> None:
        super().__init__()
        self.enc1 = ConvBlock(1, 32)
        self.pool1 = nn.MaxPool2d(2)
        self.enc2 = ConvBlock(32, 64)
        self.pool2 = nn.MaxPool2d(2)
        self.enc3 = ConvBlock(64, 128)
        self.bottleneck = ConvBlock(128, BOTTLENECK_CHANNELS)
        self.up3 = nn.ConvTranspose2d(BOTTLENECK_CHANNELS, 128, kernel_size=2, stride=2)
        self.dec3 = ConvBlock(128 + 64, 128)
        self.up2 = nn.ConvTranspose2d(128, 64, kernel_size=2, stride=2)
        self.dec2 = ConvBlock(64 + 32, 64)
        self.final = nn.Sequential(
            nn.Conv2d(64, 32, kernel_size=3, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.Conv2d(32, 1, kernel_size=1),
        )

    def time_offset(self, t: torch.Tensor) -> torch.Tensor:
        """Map timesteps ``[B]`` to the bottleneck offset ``[B, 256]``."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = _checked_inputs(x, t)
        e1 = self.enc1(x)  # (B, 32, 28, 28)
        e2 = self.enc2(self.pool1(e1))  # (B, 64, 14, 14)
        e3 = self.enc3(self.pool2(e2))  # (B, 128, 7, 7)
        b = self.bottleneck(e3)  # (B, 256, 7, 7)
        offset = self.time_offset(t).to(b.dtype)  # (B, 256)
        b = b + offset[:, :, None, None]  # (B, 256) -> (B, 256, 1, 1), broadcast over 7x7
        d3 = self.dec3(torch.cat([self.up3(b), e2], dim=1))  # (B, 128+64, 14, 14) -> (B, 128, 14, 14)
        d2 = self.dec2(torch.cat([self.up2(d3), e1], dim=1))  # (B, 64+32, 28, 28) -> (B, 64, 28, 28)
        return self.final(d2)  # (B, 1, 28, 28)


class UNetSimple(BottleneckTimeUNet):
    """Simple conditioning: a 128-d MLP of ``t/T`` added to bottleneck channels 0..127."""

    def __init__(self, num_timesteps: int = 1000) -> None:
        super().__init__()
        self.time_embed = SimpleTimestepEmbed(d_emb=128, num_timesteps=num_timesteps)

    def time_offset(self, t: torch.Tensor) -> torch.Tensor:
        emb = self.time_embed(t)  # (B, 128)
        # Zero-pad to the bottleneck width: channels 128..255 get no time signal,
        # exactly as in the original notebook, but without writing into the ReLU output in place.
        return F.pad(emb, (0, BOTTLENECK_CHANNELS - emb.shape[1]))  # (B, 128) -> (B, 256)


class UNetSinusoidal(BottleneckTimeUNet):
    """Sinusoidal + MLP conditioning (256 -> 512), projected onto all 256 bottleneck channels."""

    def __init__(self) -> None:
        super().__init__()
        self.time_embed = TimestepEmbedding(d_sinusoidal=256, d_emb=512)
        self.time_proj = nn.Linear(512, BOTTLENECK_CHANNELS)

    def time_offset(self, t: torch.Tensor) -> torch.Tensor:
        return self.time_proj(self.time_embed(t))  # (B,) -> (B, 512) -> (B, 256)


class UNetScalar(BottleneckTimeUNet):
    """:class:`UNetSinusoidal` with the scalar ``t / T`` in place of the sinusoidal encoding.

    Same MLP widths (512), same GELU, same Linear(512, 256) onto all 256 bottleneck
    channels; only the MLP's first layer differs (Linear(1, 512) for Linear(256, 512)).
    """

    def __init__(self, num_timesteps: int = 1000) -> None:
        super().__init__()
        self.time_embed = ScalarTimestepEmbedding(d_emb=512, num_timesteps=num_timesteps)
        self.time_proj = nn.Linear(512, BOTTLENECK_CHANNELS)

    def time_offset(self, t: torch.Tensor) -> torch.Tensor:
        return self.time_proj(self.time_embed(t))  # (B,) -> (B, 512) -> (B, 256)


class AdaGNConvBlock(nn.Module):
    """(Conv3x3 -> AdaGN(t) -> ReLU) twice: :class:`ConvBlock` with time-conditioned GroupNorm."""

    def __init__(self, in_ch: int, out_ch: int, d_emb: int, num_groups: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1)
        self.norm1 = AdaGN(out_ch, d_emb, num_groups)
        self.conv2 = nn.Conv2d(out_ch, out_ch, kernel_size=3, padding=1)
        self.norm2 = AdaGN(out_ch, d_emb, num_groups)

    def forward(self, x: torch.Tensor, t_emb: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.norm1(self.conv1(x), t_emb))
        return torch.relu(self.norm2(self.conv2(h), t_emb))


class UNetAdaGN(nn.Module):
    """The same U-Net with the sinusoidal + MLP embedding conditioning every conv block via AdaGN.

    Widths, pooling, upsampling and skips are those of :class:`BottleneckTimeUNet`; each
    BatchNorm becomes lesson 03's :class:`~course_utils.components.adagn.AdaGN` (``num_groups`` groups,
    8 by default so that every width from 32 to 256 divides), and no offset is added at
    the bottleneck. Input ``x`` ``[B, 1, H, W]`` (H, W divisible by 4) and ``t`` ``[B]``.
    """

    def __init__(self, num_groups: int = 8) -> None:
        super().__init__()
        widths = (32, 64, 128, BOTTLENECK_CHANNELS)
        if not isinstance(num_groups, int) or num_groups < 1 or any(w % num_groups for w in widths):
            raise ValueError(f"num_groups must be a positive int dividing {widths}, got {num_groups!r}")
        d = 512
        self.enc1 = AdaGNConvBlock(1, 32, d, num_groups)
        self.pool1 = nn.MaxPool2d(2)
        self.enc2 = AdaGNConvBlock(32, 64, d, num_groups)
        self.pool2 = nn.MaxPool2d(2)
        self.enc3 = AdaGNConvBlock(64, 128, d, num_groups)
        self.bottleneck = AdaGNConvBlock(128, BOTTLENECK_CHANNELS, d, num_groups)
        self.up3 = nn.ConvTranspose2d(BOTTLENECK_CHANNELS, 128, kernel_size=2, stride=2)
        self.dec3 = AdaGNConvBlock(128 + 64, 128, d, num_groups)
        self.up2 = nn.ConvTranspose2d(128, 64, kernel_size=2, stride=2)
        self.dec2 = AdaGNConvBlock(64 + 32, 64, d, num_groups)
        self.final_conv = nn.Conv2d(64, 32, kernel_size=3, padding=1)
        self.final_norm = AdaGN(32, d, num_groups)
        self.final_out = nn.Conv2d(32, 1, kernel_size=1)
        self.time_embed = TimestepEmbedding(d_sinusoidal=256, d_emb=d)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = _checked_inputs(x, t)
        emb = self.time_embed(t)  # (B,) -> (B, 512)
        e1 = self.enc1(x, emb)  # (B, 32, 28, 28)
        e2 = self.enc2(self.pool1(e1), emb)  # (B, 64, 14, 14)
        e3 = self.enc3(self.pool2(e2), emb)  # (B, 128, 7, 7)
        b = self.bottleneck(e3, emb)  # (B, 256, 7, 7)
        d3 = self.dec3(torch.cat([self.up3(b), e2], dim=1), emb)  # (B, 128+64, 14, 14) -> (B, 128, 14, 14)
        d2 = self.dec2(torch.cat([self.up2(d3), e1], dim=1), emb)  # (B, 64+32, 28, 28) -> (B, 64, 28, 28)
        h = torch.relu(self.final_norm(self.final_conv(d2), emb))  # (B, 32, 28, 28)
        return self.final_out(h)  # (B, 1, 28, 28)


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters of ``model``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
