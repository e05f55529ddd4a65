"""Run small CPU experiments on one thread.

PyTorch uses one thread per core by default. For the tiny models of lessons 02
and 03 (a few thousand multiply-adds per layer) the threads spend more time
synchronising than computing, and on a shared machine (two autograder jobs, a
Colab VM) they compete with every other process: the same 300 training steps can
take six times longer on two threads than on one. :func:`limit_threads` switches
to ``n`` threads for the duration of a ``with`` block and restores the setting.
Results are the same either way; only the speed changes.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch

__all__ = ["limit_threads"]


@contextmanager
def limit_threads(n: int = 1) -> Iterator[None]:
    """Use at most ``n`` intra-op threads inside the block (never more than were set)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    before = torch.get_num_threads()
    torch.set_num_threads(min(n, before))
    try:
        yield
    finally:
        torch.set_num_threads(before)
