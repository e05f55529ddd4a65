"""Lesson 04's sample scores: the classifier learns, the scores mean what they say, the wording follows the numbers."""

from __future__ import annotations

import json

import pytest
import torch

from course_utils.lessons.lesson04 import sample_quality as sq
from course_utils.lessons.lesson04.errors import ResultsError
from course_utils.lessons.lesson04.heldout import train_and_heldout
from course_utils.lessons.lesson04.mnist import MnistSplit, load_mnist, to_model_range

pytestmark = pytest.mark.usefixtures("one_cpu_thread")  # see conftest.py


@pytest.fixture(scope="module")
def split():
    train, held = train_and_heldout(load_mnist("cpu", source="shipped", verbose=False))
    small = MnistSplit(train.images[:4000], train.labels[:4000], "4,000 training digits")
    return small, held


@pytest.fixture(scope="module")
def clf(split):
    return sq.train_classifier(split[0], epochs=4)


def test_the_classifier_recognises_held_out_digits(clf, split):
    assert sq.accuracy(clf, split[1]) > 0.85


def test_real_digits_score_better_than_noise_and_the_balance_means_what_it_says(clf, split):
    held = split[1]
    ref = to_model_range(held.images[:200])
    real = sq.score_samples(clf, to_model_range(held.images[200:400]), ref)
    noise = sq.score_samples(
        clf, torch.randn(200, 1, 28, 28, generator=torch.Generator().manual_seed(0)).clamp(-1, 1), ref
    )
    assert noise.fd > 5 * real.fd and noise.fd - real.fd > 10 * (noise.fd_std + real.fd_std)
    assert real.confidence > noise.confidence - 0.05  # confidence alone barely separates them (why FD decides)
    assert real.balance > 0.9 and 0 < real.confidence_std < 0.05 and real.n == 200 and sum(real.class_counts) == 200
    ones = to_model_range(held.images[held.labels == 1][:50])
    only_ones = sq.score_samples(clf, ones, ref)
    assert only_ones.balance < 0.2 and only_ones.fd > 3 * real.fd  # one class: low balance, far from real digits
    assert sq._balance(torch.arange(10).repeat(5)) == pytest.approx(1.0)
    assert sq._balance(torch.zeros(30, dtype=torch.long)) == pytest.approx(0.0)


def test_frechet_distance_matches_the_closed_form_for_gaussians():
    """Same Gaussian: FD ~ 0; shifted mean: |d|^2; scaled covariance: D (s - 1)^2 for S = s^2 I vs I."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(20000, 4, generator=g), torch.randn(20000, 4, generator=g)
    assert sq.frechet_distance(a, b) == pytest.approx(0.0, abs=0.01)
    assert sq.frechet_distance(a, b + torch.tensor([3.0, 0, 0, 0])) == pytest.approx(9.0, rel=0.01)
    assert sq.frechet_distance(a, 2 * b) == pytest.approx(4 * (2 - 1) ** 2, rel=0.03)
    assert sq.frechet_distance(a, b + 1) == pytest.approx(sq.frechet_distance(b + 1, a), rel=1e-6)  # symmetric
    with pytest.raises(ValueError, match="feature sets with the same D"):
        sq.frechet_distance(a, b[:, :3])


def test_inputs_are_checked(clf):
    ref = torch.zeros(4, 1, 28, 28)
    with pytest.raises(ValueError, match=r"images must be \(N, 1, 28, 28\)"):
        sq.score_samples(clf, torch.zeros(4, 28, 28), ref)
    with pytest.raises(ValueError, match="n_boot must be an int >= 2"):
        sq.score_samples(clf, torch.zeros(4, 1, 28, 28), ref, n_boot=1)
    with pytest.raises(TypeError, match="MnistSplit with labels"):
        sq.train_classifier(torch.zeros(10, 28, 28))


def _score(fd, std, balance=0.9):
    return {
        "n": 256,
        "fd": fd,
        "fd_std": std,
        "confidence": 0.9,
        "confidence_std": 0.01,
        "balance": balance,
        "balance_std": 0.01,
        "class_counts": [25] * 10,
    }


@pytest.mark.parametrize(
    "scalar, sinusoidal, says",
    [
        (30.0, 20.0, "UNetSinusoidal's samples are closer to real digits, by 10.00 in FD"),
        (20.0, 30.0, "UNetScalar's samples are closer to real digits, by 10.00 in FD"),
        (25.0, 24.0, "is within twice the bootstrap spread of the difference"),
    ],
)
def test_the_wording_is_chosen_by_the_numbers(scalar, sinusoidal, says):
    scores = {
        "real digits": _score(2.0, 0.2),
        "starting noise": _score(102.0, 1.0),
        "UNetScalar": _score(scalar, 1.0),
        "UNetSinusoidal": _score(sinusoidal, 1.0),
    }
    lines = sq.describe_scores(scores)
    assert any(says in line for line in lines), lines
    assert f"UNetScalar: its samples have come {102 - scalar:.0f}% of the way" in "\n".join(lines)
    worse = sq.describe_scores({**scores, "UNetScalar": _score(150.0, 1.0)})
    assert "UNetScalar: its samples are further from real digits than the starting noise itself." in worse
    with pytest.raises(ValueError, match="scores lacks"):
        sq.describe_scores({"real digits": _score(0.9, 0.01)})


def test_cached_scores_must_belong_to_the_shipped_weights(tmp_path):
    from course_utils.lessons.lesson04.weights import load_manifest

    good = {
        arm: {"sha256": e["sha256"], "steps": e["steps"], "seed": e["seed"]}
        for arm, e in load_manifest()["arms"].items()
    }
    prov = {"command": "made up", "date": "today", "torch": "x", "git_commit": "abc"}
    path = tmp_path / "scores.json"
    path.write_text(json.dumps({"schema": sq.SCHEMA, "provenance": prov, "weights": good, "scores": {}}))
    assert sq.load_scores(path)["weights"] == good
    old_format = {"real digits": {"n": 256, "confidence": 0.9}}
    path.write_text(json.dumps({"schema": sq.SCHEMA, "provenance": prov, "weights": good, "scores": old_format}))
    with pytest.raises(ResultsError, match="an older format"):
        sq.load_scores(path)
    stale = {**good, "UNetScalar": {**good["UNetScalar"], "sha256": "0" * 64}}
    path.write_text(json.dumps({"schema": sq.SCHEMA, "provenance": prov, "weights": stale, "scores": {}}))
    with pytest.raises(ResultsError, match="scored other weights than those shipped"):
        sq.load_scores(path)
    with pytest.raises(ResultsError, match="No cached sample scores"):
        sq.load_scores(tmp_path / "missing.json")
