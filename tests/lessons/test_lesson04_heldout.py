"""Lesson 04's held-out split and loss by t: fixed digits, fixed triples, every arm scored alike."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_utils.diffusion.ddpm import linear_schedule, q_sample
from course_utils.lessons.lesson04.heldout import (
    T_GRID,
    heldout_loss_by_t,
    heldout_triples,
    split_digits,
    train_and_heldout,
)
from course_utils.lessons.lesson04.mnist import MnistSplit, load_mnist

pytestmark = pytest.mark.usefixtures("one_cpu_thread")  # see conftest.py


def _fake(n: int) -> MnistSplit:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=g)
    images[:, 0, 0] = torch.arange(n) % 256  # so digits can be told apart
    images[:, 0, 1] = torch.arange(n) // 256
    return MnistSplit(images, torch.arange(n, dtype=torch.uint8) % 10, "fake digits")


def _ids(split: MnistSplit) -> list[int]:
    return (split.images[:, 0, 0].long() + 256 * split.images[:, 0, 1].long()).tolist()


def test_the_split_is_fixed_disjoint_and_complete():
    data = _fake(500)
    train, held = split_digits(data, 100)
    again_train, again_held = split_digits(data, 100)
    assert len(train) == 400 and len(held) == 100
    assert _ids(held) == _ids(again_held) and _ids(train) == _ids(again_train)
    assert set(_ids(train)).isdisjoint(_ids(held)) and sorted(_ids(train) + _ids(held)) == list(range(500))
    assert _ids(held) == sorted(_ids(held))  # original order kept
    assert _ids(split_digits(data, 100, seed=1)[1]) != _ids(held)  # the seed decides
    assert "100 held out" in train.source and "split seed" in held.source
    with pytest.raises(ValueError, match="n_heldout must be an int between 1 and 499"):
        split_digits(data, 500)
    with pytest.raises(TypeError, match="must be an MnistSplit"):
        split_digits(data.images, 10)


def test_shipped_digits_give_9000_train_and_1000_held_out_and_online_holds_out_the_same():
    shipped = load_mnist(source="shipped", verbose=False)
    train, held = train_and_heldout(shipped)
    assert (len(train), len(held)) == (9_000, 1_000)
    online = MnistSplit(
        torch.zeros(60_000, 28, 28, dtype=torch.uint8), torch.zeros(60_000, dtype=torch.uint8), "60k stand-in"
    )
    online_train, online_held = train_and_heldout(online)
    assert online_train is online and torch.equal(online_held.images, held.images)
    with pytest.raises(ValueError, match="use split_digits for other data"):
        train_and_heldout(_fake(300))


def test_triples_are_fixed_and_identical_for_every_caller():
    held = _fake(64)
    a, b = heldout_triples(held, 16, (0, 500, 999), seed=3), heldout_triples(held, 16, (0, 500, 999), seed=3)
    assert a.noise.shape == (3, 16, 1, 28, 28) and torch.equal(a.noise, b.noise)
    assert torch.equal(a.images, held.images[:16]) and a.t_grid == (0, 500, 999)
    torch.manual_seed(123)  # the global RNG plays no part
    assert torch.equal(heldout_triples(held, 16, (0, 500, 999), seed=3).noise, a.noise)
    assert not torch.equal(heldout_triples(held, 16, (0, 500, 999), seed=4).noise, a.noise)
    assert "16 held-out digits x 3 timesteps" in a.describe()
    assert T_GRID[0] == 0 and T_GRID[-1] == 999 and list(T_GRID) == sorted(set(T_GRID))
    with pytest.raises(ValueError, match="t_grid must be distinct timesteps in 0..999"):
        heldout_triples(held, 16, (0, 1000))
    with pytest.raises(ValueError, match="n_digits must be an int between 1 and 64"):
        heldout_triples(held, 65)


class _Oracle(nn.Module):
    """Predicts the true noise exactly for the triples it was told about; optionally off by `bias`."""

    def __init__(self, triples, schedule, bias=0.0):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))
        self.table = {}
        x0 = (triples.images.float() / 127.5 - 1).unsqueeze(1)  # (N, 28, 28) -> (N, 1, 28, 28)
        for k, t in enumerate(triples.t_grid):
            tt = torch.full((x0.shape[0],), t)
            self.table[t] = (q_sample(x0, tt, schedule, triples.noise[k]), triples.noise[k])
        self.bias, self.seen_training = bias, []

    def forward(self, x, t):
        self.seen_training.append(self.training)
        xt, noise = self.table[int(t[0])]
        idx = [int(torch.nonzero((xt == row).all(dim=(1, 2, 3)))[0]) for row in x]
        return noise[idx] + self.bias * (int(t[0]) > 400)


def test_loss_by_t_scores_the_fixed_triples_in_eval_mode():
    schedule = linear_schedule()
    triples = heldout_triples(_fake(40), 10, (0, 300, 999), seed=1)
    exact = _Oracle(triples, schedule).train()
    out = heldout_loss_by_t(exact, triples, schedule, batch_size=4)  # batches that split the digits
    assert out == {"t": [0, 300, 999], "loss": [0.0, 0.0, 0.0]}
    assert not any(exact.seen_training) and exact.training  # eval mode, restored
    off = heldout_loss_by_t(_Oracle(triples, schedule, bias=0.5), triples, schedule)
    assert off["loss"] == pytest.approx([0.0, 0.0, 0.25])  # (0.5)^2 only where t > 400
    with pytest.raises(TypeError, match="triples must come from heldout_triples"):
        heldout_loss_by_t(exact, "triples", schedule)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        heldout_loss_by_t(exact, triples, schedule, batch_size=0)


def test_a_predictor_of_zero_scores_the_noise_variance():
    class Zero(nn.Module):
        def __init__(self):
            super().__init__()
            self.p = nn.Parameter(torch.zeros(()))

        def forward(self, x, t):
            return torch.zeros_like(x)

    triples = heldout_triples(_fake(300), 256, (10, 900), seed=0)
    out = heldout_loss_by_t(Zero(), triples, linear_schedule(), batch_size=100)
    assert out["loss"] == pytest.approx([1.0, 1.0], abs=0.02)  # E[eps^2] = 1
    assert out["loss"] == pytest.approx([float(triples.noise[k].square().mean()) for k in range(2)], abs=2e-6)
