"""Run small CPU experiments on one thread.

PyTorch uses one thread per core by default. For the course's tiny models (the
MLPs of lessons 02, 03 and 05, a few thousand multiply-adds per layer) the threads
spend more time synchronising than computing, and on a shared machine (two
autograder jobs, a Colab VM) they compete with every other process: the same
training steps measured 6 to 100 times slower on two threads than on one on a busy
2-core machine. :func:`limit_threads` sets the thread count for the duration of a
``with`` block and restores it. Results are the same either way; only speed changes.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch

__all__ = ["limit_threads"]


@contextmanager
def limit_threads(n: int | None = 1) -> Iterator[None]:
    """Use ``n`` intra-op threads inside the block, then restore the count (``None``: leave it)."""
    if n is None:
        yield
        return
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int or None, got {n!r}")
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
