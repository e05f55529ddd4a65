"""The original notebook's training loop, rebuilt as the benchmark's baseline.

The original notebook trained with ``torchvision.datasets.MNIST`` + ``ToTensor()`` +
``Normalize((0.5,), (0.5,))`` through a shuffling ``DataLoader`` (batch 128,
``drop_last=True``, no workers), in fp32, calling ``loss.item()`` every step.
torchvision cannot download here, so :class:`PilMnist` serves the shipped IDX
digits the way torchvision's MNIST class does: one PIL image per sample, turned
into a tensor by the transform on every access. The DDPM loss is Ho et al. (2020).
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from course_utils.diffusion.ddpm import linear_schedule, q_sample

__all__ = ["PilMnist", "original_loader", "time_original_loop"]


class PilMnist(Dataset):
    """Digits ``[N, 28, 28]`` uint8 served as ``(transform(PIL image), label)``, like torchvision."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform) -> None:
        if images.dtype != torch.uint8 or images.dim() != 3 or len(labels) != len(images):
            raise ValueError(
                f"need uint8 images [N, H, W] and N labels, got {tuple(images.shape)} "
                f"{images.dtype} and {len(labels)} labels"
            )
        self.images, self.labels, self.transform = images.cpu(), labels.cpu(), transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        img = Image.fromarray(self.images[i].numpy(), mode="L")
        return self.transform(img), int(self.labels[i])


def original_loader(images: torch.Tensor, labels: torch.Tensor, batch_size: int = 128, seed: int = 0) -> DataLoader:
    """The original notebook's pipeline: ToTensor + Normalize per sample, shuffled DataLoader, drop_last."""
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    return DataLoader(
        PilMnist(images, labels, tf),
        batch_size=batch_size,
        shuffle=True,
        drop_last=True,
        generator=torch.Generator().manual_seed(seed),
    )


def time_original_loop(model: nn.Module, loader: DataLoader, steps: int, warmup: int, device: torch.device) -> float:
    """Seconds per step of the original notebook's loop over ``steps`` timed steps after ``warmup`` steps."""
    if steps < 1 or warmup < 0:
        raise ValueError(f"need steps >= 1 and warmup >= 0, got {steps}, {warmup}")
    schedule = linear_schedule(device=device)
    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-4)
    done, total_loss, start = 0, 0.0, None
    while done < warmup + steps:
        for x0, _ in loader:
            if done == warmup:
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                start = time.perf_counter()
            x0 = x0.to(device)
            t = torch.randint(0, schedule.num_timesteps, (x0.shape[0],), device=device)
            noise = torch.randn_like(x0)
            loss = F.mse_loss(model(q_sample(x0, t, schedule, noise), t), noise)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total_loss += loss.item()  # the original notebook's per-step host sync
            done += 1
            if done == warmup + steps:
                break
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / steps
