"""Scoring lesson 04's generated digits with a small digit classifier: Fréchet distance, confidence, balance.

Sample quality is measured the way the FID measures it (Heusel et al., "GANs Trained by a Two
Time-Scale Update Rule Converge to a Local Nash Equilibrium", 2017), with a small MNIST classifier
in place of Inception, as is usual for MNIST. Three numbers per set of digits, each with its spread:

* **FD**: the Fréchet distance between Gaussians fitted to the classifier's 64 hidden features of
  the set and of 256 real held-out digits (lower is closer to real digits; it sees both quality and
  variety). The verdict between two networks uses it;
* **confidence**: the mean of the classifier's top softmax probability (the Inception Score's idea,
  Salimans et al. 2016): is each sample recognisably *some* digit? A classifier that never saw
  noise can be confident on noise, which is why it is not the verdict's measure;
* **class balance**: the entropy of the histogram of predicted classes divided by ``log 10``
  (1 = every class equally often, 0 = a single class).

The spread is the standard deviation over bootstrap resamples of the set (``n`` digits scored
again on ``n`` digits drawn with replacement): how much the number would move with another draw of
starting noise. It does not cover another training seed.

The classifier trains on the training digits of :func:`~course_utils.lessons.lesson04.heldout.train_and_heldout`
(never on the held-out ones); its accuracy on the 1,000 held-out digits is reported beside the
scores, with two reference sets: 256 *other* real held-out digits (the floor: how far two real sets
are apart) and the starting noise itself (what a generator that learned nothing would score).
The scores of the shipped weights (``data/lesson04/weights/``) are cached in
``data/lesson04/sample_quality.json`` with their provenance and the SHA-256 of the weights they
scored; ``python -m course_utils.lessons.lesson04.sample_quality --recompute`` makes them again.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from course_utils.lessons.lesson04.errors import ResultsError
from course_utils.lessons.lesson04.mnist import MnistSplit, to_model_range
from course_utils.paths import shipped_dir
from course_utils.provenance import check, recompute_or_load, record

__all__ = [
    "DigitClassifier",
    "train_classifier",
    "accuracy",
    "SampleScore",
    "score_samples",
    "describe_scores",
    "frechet_distance",
    "SCHEMA",
    "results_path",
    "load_scores",
    "compute_scores",
]

SCHEMA = "course_utils/lesson04-sample-quality/1"
N_SAMPLES = 256  # generated digits per network (and real digits for the reference row)
DDIM_STEPS = 50
NOISE_SEED = 0  # the starting noise x_T, the same for every network
CLASSIFIER_EPOCHS = 5


class DigitClassifier(nn.Module):
    """Two conv layers and a two-layer head: 28x28 digits in [-1, 1] -> 10 logits."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # (B, 16, 28, 28) -> (B, 16, 14, 14)
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # (B, 32, 14, 14) -> (B, 32, 7, 7)
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(32 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))  # (B, 1, 28, 28) -> (B, 10)


def train_classifier(train: MnistSplit, epochs: int = 3, batch_size: int = 128, seed: int = 0) -> DigitClassifier:
    """A :class:`DigitClassifier` trained with Adam (lr 1e-3) on ``train``, deterministic for a seed; eval mode."""
    if not isinstance(train, MnistSplit) or train.labels is None:
        raise TypeError(
            "train must be an MnistSplit with labels (course_utils.lessons.lesson04.heldout.train_and_heldout)"
        )
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    torch.manual_seed(seed)
    model = DigitClassifier()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    images, labels = train.images.cpu(), train.labels.cpu().long()
    order_gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(images), generator=order_gen)
        for i in range(0, len(images) - batch_size + 1, batch_size):
            idx = order[i : i + batch_size]
            loss = nn.functional.cross_entropy(model(to_model_range(images[idx])), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


@torch.no_grad()
def _outputs(model: DigitClassifier, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(probs, features)``: softmax (N, 10) and the head's 64 hidden features (N, 64)."""
    if images.dim() != 4 or tuple(images.shape[1:]) != (1, 28, 28):
        raise ValueError(f"images must be (N, 1, 28, 28) in [-1, 1], got {tuple(images.shape)}")
    model.eval()
    probs, feats = [], []
    for chunk in images.float().cpu().split(512):
        hidden = model.head[:3](model.features(chunk))  # (B, 1, 28, 28) -> (B, 64)
        feats.append(hidden)
        probs.append(model.head[3](hidden).softmax(dim=1))  # (B, 64) -> (B, 10)
    return torch.cat(probs), torch.cat(feats)


def accuracy(model: DigitClassifier, split: MnistSplit) -> float:
    """The share of ``split``'s digits that ``model`` labels correctly."""
    probs, _ = _outputs(model, to_model_range(split.images.cpu()))
    return float((probs.argmax(dim=1) == split.labels.cpu()).float().mean())


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to feature sets ``a`` (N, D) and ``b`` (M, D).

    ``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2)`` (Heusel et al. 2017, the FID's formula),
    with symmetric square roots from eigendecompositions (float64).
    """
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(
            f"a and b must be (N, D) feature sets with the same D and N >= 2, got {tuple(a.shape)}, {tuple(b.shape)}"
        )
    a, b = a.double(), b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)  # (D, N) -> (D, D)

    def sqrtm(m: torch.Tensor) -> torch.Tensor:
        vals, vecs = torch.linalg.eigh((m + m.T) / 2)
        return (vecs * vals.clamp(min=0).sqrt()) @ vecs.T

    root_a = sqrtm(cov_a)
    cross = torch.linalg.eigvalsh(root_a @ cov_b @ root_a).clamp(min=0).sqrt().sum()
    return float((mu_a - mu_b).square().sum() + cov_a.trace() + cov_b.trace() - 2 * cross)


@dataclass(frozen=True)
class SampleScore:
    """One set of digits: its Fréchet distance to real digits, confidence and class balance, each with its
    bootstrap spread (std)."""

    n: int
    fd: float
    fd_std: float
    confidence: float
    confidence_std: float
    balance: float
    balance_std: float
    class_counts: tuple[int, ...]

    def as_dict(self) -> dict:
        return asdict(self)


def _balance(predicted: torch.Tensor) -> float:
    counts = torch.bincount(predicted, minlength=10).double()
    p = counts / counts.sum()
    entropy = -(p[p > 0] * p[p > 0].log()).sum()
    return float(entropy / math.log(10))


def score_samples(
    model: DigitClassifier, images: torch.Tensor, reference: torch.Tensor, n_boot: int = 200, seed: int = 0
) -> SampleScore:
    """Score ``images`` ((N, 1, 28, 28) in [-1, 1]) against real ``reference`` digits (same layout).

    The spreads are the standard deviations over ``n_boot`` bootstrap resamples of ``images``.
    """
    if not isinstance(n_boot, int) or n_boot < 2:
        raise ValueError(f"n_boot must be an int >= 2, got {n_boot!r}")
    probs, feats = _outputs(model, images)
    _, ref_feats = _outputs(model, reference)
    top, predicted = probs.max(dim=1)
    gen = torch.Generator().manual_seed(seed)
    boot = {"fd": [], "confidence": [], "balance": []}
    for _ in range(n_boot):
        idx = torch.randint(0, len(top), (len(top),), generator=gen)
        boot["fd"].append(frechet_distance(feats[idx], ref_feats))
        boot["confidence"].append(float(top[idx].mean()))
        boot["balance"].append(_balance(predicted[idx]))
    std = {k: float(torch.tensor(v).std()) for k, v in boot.items()}
    return SampleScore(
        len(top),
        frechet_distance(feats, ref_feats),
        std["fd"],
        float(top.mean()),
        std["confidence"],
        _balance(predicted),
        std["balance"],
        tuple(int(c) for c in torch.bincount(predicted, minlength=10)),
    )


def describe_scores(scores: dict[str, dict], pair: tuple[str, str] = ("UNetScalar", "UNetSinusoidal")) -> list[str]:
    """Lines for the lesson: each set's scores, then what the numbers say, worded from the numbers.

    ``scores`` maps a set's name to :meth:`SampleScore.as_dict`; it must hold ``"real digits"``,
    ``"starting noise"`` and both networks of ``pair``.
    """
    need = {"real digits", "starting noise", *pair} - set(scores)
    if need:
        raise ValueError(f"scores lacks {sorted(need)}")
    lines = [
        f"  {name:<16} FD {s['fd']:7.2f} +- {s['fd_std']:.2f}   confidence {s['confidence']:.3f} +- "
        f"{s['confidence_std']:.3f}   class balance {s['balance']:.3f} +- {s['balance_std']:.3f}"
        for name, s in scores.items()
    ]
    real, noise = scores["real digits"]["fd"], scores["starting noise"]["fd"]
    for name, s in scores.items():
        if name in ("real digits", "starting noise"):
            continue
        share = (noise - s["fd"]) / (noise - real) if noise != real else float("nan")
        if share < 0:
            lines.append(f"{name}: its samples are further from real digits than the starting noise itself.")
        else:
            lines.append(
                f"{name}: its samples have come {100 * share:.0f}% of the way from the starting noise's FD "
                "to that of real digits."
            )
    a, b = (scores[n] for n in pair)
    gap = a["fd"] - b["fd"]
    spread = math.hypot(a["fd_std"], b["fd_std"])
    if abs(gap) > 2 * spread:
        closer = pair[1] if gap > 0 else pair[0]
        lines.append(
            f"{pair[0]} vs {pair[1]}: {closer}'s samples are closer to real digits, by {abs(gap):.2f} in FD, "
            f"more than twice the bootstrap spread of the difference ({spread:.2f}); one training seed, "
            "so this is not yet a seed-to-seed result."
        )
    else:
        lines.append(
            f"{pair[0]} vs {pair[1]}: the FD gap ({gap:+.2f}) is within twice the bootstrap spread of the "
            f"difference ({spread:.2f}): no difference in sample quality shows at these weights."
        )
    return lines


def results_path() -> Path:
    """``<shipped data>/lesson04/sample_quality.json``."""
    return shipped_dir() / "lesson04" / "sample_quality.json"


def compute_scores(command: str, weights_folder: Path | None = None) -> dict:
    """Train the classifier, draw :data:`N_SAMPLES` DDIM samples per shipped network from one x_T, score them."""
    from course_utils.diffusion.ddpm import linear_schedule
    from course_utils.diffusion.samplers import ddim_sample
    from course_utils.lessons.lesson04.heldout import train_and_heldout
    from course_utils.lessons.lesson04.mnist import load_mnist
    from course_utils.lessons.lesson04.weights import ARMS, load_manifest, load_weights

    train, held = train_and_heldout(load_mnist("cpu", source="shipped", verbose=False))
    clf = train_classifier(train, epochs=CLASSIFIER_EPOCHS)
    manifest = load_manifest(weights_folder)
    x_T = torch.randn(N_SAMPLES, 1, 28, 28, generator=torch.Generator().manual_seed(NOISE_SEED))
    reference = to_model_range(held.images[:N_SAMPLES])  # the real digits every set is compared with
    scores = {  # other real digits (the floor: two real sets differ this much) and the noise (the ceiling)
        "real digits": score_samples(clf, to_model_range(held.images[N_SAMPLES : 2 * N_SAMPLES]), reference).as_dict(),
        "starting noise": score_samples(clf, x_T.clamp(-1, 1), reference).as_dict(),
    }
    schedule = linear_schedule()
    for arm in ARMS:
        net = load_weights(arm, weights_folder)
        with torch.no_grad():
            samples = ddim_sample(net, schedule, x_T, steps=DDIM_STEPS, clip=True)
        scores[arm] = score_samples(clf, samples, reference).as_dict()
        print(f"{arm}: confidence {scores[arm]['confidence']:.3f}", file=sys.stderr)
    weights = {arm: {k: e[k] for k in ("sha256", "steps", "seed")} for arm, e in manifest["arms"].items()}
    return {
        "schema": SCHEMA,
        "provenance": record(
            command, device="CPU", seeds=[NOISE_SEED], data=f"{train.source}; scored against {held.source}"
        ),
        "classifier": {
            "heldout_accuracy": round(accuracy(clf, held), 4),
            "trained_on": train.source,
            "epochs": CLASSIFIER_EPOCHS,
        },
        "sampler": f"DDIM, {DDIM_STEPS} steps, clip, x_T from seed {NOISE_SEED}, {N_SAMPLES} samples per network",
        "weights": weights,
        "scores": scores,
    }


def load_scores(path: Path | None = None, weights_folder: Path | None = None) -> dict:
    """The cached scores, checked against the shipped weights they claim to score."""
    from course_utils.lessons.lesson04.weights import load_manifest

    path = Path(path or results_path())
    if not path.is_file():
        raise ResultsError(
            f"No cached sample scores at {path}: run python -m course_utils.lessons.lesson04.sample_quality --recompute"
        )
    try:
        res = check(json.loads(path.read_text()), path, SCHEMA, ("command", "date", "torch", "git_commit"))
    except ValueError as err:
        raise ResultsError(str(err)) from None
    fields = set(SampleScore.__dataclass_fields__)
    scores = res.get("scores")
    if not isinstance(scores, dict) or any(not isinstance(v, dict) or set(v) != fields for v in scores.values()):
        raise ResultsError(
            f"{path} does not hold {sorted(fields)} for every set (an older format?): "
            "run python -m course_utils.lessons.lesson04.sample_quality --recompute"
        )
    shipped = {arm: e["sha256"] for arm, e in load_manifest(weights_folder)["arms"].items()}
    scored = {arm: e.get("sha256") for arm, e in res.get("weights", {}).items()}
    if scored != shipped:
        raise ResultsError(
            f"{path} scored other weights than those shipped in data/lesson04/weights: "
            "run python -m course_utils.lessons.lesson04.sample_quality --recompute"
        )
    return res


def main(argv: list[str] | None = None) -> dict:
    return recompute_or_load(
        "course_utils.lessons.lesson04.sample_quality",
        sys.argv[1:] if argv is None else argv,
        results_path(),
        compute_scores,
        load_scores,
        "Lesson 04's sample scores: classifier confidence and class balance of each shipped network's DDIM samples.",
    )


if __name__ == "__main__":
    for line in describe_scores(main()["scores"]):
        print(line)
