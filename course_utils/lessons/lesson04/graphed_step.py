"""One whole DDPM training step (forward, loss, backward, Adam) captured in a CUDA graph.

Lesson 04's U-Nets are small: on a fast GPU a step is a few hundred tiny kernels,
and launching them from Python takes longer than running them. A CUDA graph
records the launches once and replays them with a single call. This follows
PyTorch's "whole network capture" recipe (CUDA Graphs section of the CUDA
semantics notes, https://pytorch.org/docs/stable/notes/cuda.html#cuda-graphs):
warm up on a side stream, set the gradients to ``None``, capture forward +
backward + ``optimizer.step()`` on static input tensors, then for every batch copy
the new inputs into those tensors and replay.

What stays outside the graph, so that the run is the same as an eager one: the
batch itself and the draws of t and noise (:func:`course_utils.diffusion.ddpm.draw_t_and_noise`
with the run's own generator, in the eager order). The warm-up steps that
capturing needs are undone in place afterwards (weights, BatchNorm statistics and
Adam's moments), so training starts from the weights it was given.

Requirements: a CUDA device, Adam built with ``capturable=True``, no GradScaler
(its overflow check syncs with the host, so fp16 training stays eager).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from course_utils.diffusion.ddpm import DDPMSchedule, epsilon_loss_at

__all__ = ["GraphedTrainStep", "zero_optimizer_state"]


def zero_optimizer_state(optimizer: torch.optim.Optimizer) -> None:
    """Zero every state tensor of ``optimizer`` in place (same storage, so a graph stays valid).

    For Adam this is the state of a fresh optimizer: moments at 0 and a step count of 0
    (the first step then counts 1 and its bias correction is that of a first step).
    """
    with torch.no_grad():
        for state in optimizer.state.values():
            for value in state.values():
                if isinstance(value, torch.Tensor):
                    value.zero_()


class GraphedTrainStep:
    """Capture on the first call, replay afterwards; :meth:`reset` undoes replays in place."""

    def __init__(
        self,
        forward: Callable,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        schedule: DDPMSchedule,
        dtype: torch.dtype | None,
        channels_last: bool,
        warmup_iters: int = 3,
    ) -> None:
        device = next(model.parameters()).device
        if device.type != "cuda":
            raise ValueError(f"CUDA graphs need the model on a CUDA device, got {device}")
        if not all(g.get("capturable", False) for g in optimizer.param_groups):
            raise ValueError("the optimizer must be built with capturable=True to be captured")
        self.forward, self.model, self.optimizer = forward, model, optimizer
        self.schedule, self.dtype, self.channels_last = schedule, dtype, channels_last
        self.warmup_iters = warmup_iters
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static: dict[str, torch.Tensor] = {}
        self.loss: torch.Tensor | None = None
        # Where training starts: restored in place (same storage) after warm-ups and timing.
        self._initial = [t.detach().clone() for t in self._model_tensors()]

    def _model_tensors(self) -> list[torch.Tensor]:
        return [*self.model.parameters(), *self.model.buffers()]

    def reset(self) -> None:
        """Put weights and buffers back to where they started and Adam back to step 0, in place."""
        with torch.no_grad():
            for tensor, start in zip(self._model_tensors(), self._initial):
                tensor.copy_(start)
        zero_optimizer_state(self.optimizer)

    def _body(self) -> torch.Tensor:
        s = self.static
        # The autocast cache must be off while capturing (PyTorch's CUDA-graph notes).
        with torch.autocast(
            "cuda", dtype=self.dtype or torch.float32, enabled=self.dtype is not None, cache_enabled=False
        ):
            loss = epsilon_loss_at(self.forward, s["x0"], s["t"], s["noise"], self.schedule)
        loss.backward()
        self.optimizer.step()
        return loss

    def _fill(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> None:
        self.static["x0"].copy_(x0)
        self.static["t"].copy_(t)
        self.static["noise"].copy_(noise)

    def _capture(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> None:
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        self.static = {
            "x0": torch.empty_like(x0, memory_format=fmt),
            "t": torch.empty_like(t),
            "noise": torch.empty_like(noise, memory_format=fmt),
        }
        self._fill(x0, t, noise)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up: allocations, cuDNN choices, Adam's state
            for _ in range(self.warmup_iters):
                self.optimizer.zero_grad(set_to_none=True)
                self._body()
        torch.cuda.current_stream().wait_stream(side)
        self.reset()
        self.optimizer.zero_grad(set_to_none=True)  # backward then writes fresh .grad tensors
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self.loss = self._body()
        self.graph = graph

    def __call__(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """One training step on ``x0`` with the given draws; returns the loss (no host sync)."""
        if self.graph is None:
            self._capture(x0, t, noise)
        elif x0.shape != self.static["x0"].shape:
            raise ValueError(
                f"a captured step replays one batch shape {tuple(self.static['x0'].shape)}, got {tuple(x0.shape)}"
            )
        self._fill(x0, t, noise)
        self.graph.replay()
        return self.loss
