"""MNIST for lesson 04: verified loading, an offline fallback, and device-resident batches.

The data are LeCun, Cortes and Burges' MNIST digits (CC BY-SA 3.0), stored in
their original IDX format (http://yann.lecun.com/exdb/mnist/: a big-endian
header whose magic number is 2051 for images and 2049 for labels, then the
dimensions, then the raw bytes). The reader below is our own; it checks the
magic number, the dimensions and the byte count, so a truncated or corrupt file
is reported instead of being used.

Where the data come from (:func:`load_mnist`):

1. torchvision's 60,000-image training split, downloaded into ``data/`` and
   checked against torchvision's md5 sums (a copy that fails is fetched again);
2. when no download is possible, the 10,000-digit test split shipped in
   ``data/mnist-t10k/`` (md5-checked too), announced in one printed line.

Training never goes through PIL or a DataLoader: the whole split sits on the
training device as one uint8 tensor (47 MB for 60k digits); :class:`DeviceBatches`
draws batches by indexing a permutation made by its own ``torch.Generator`` and
maps them to ``[-1, 1]`` on the device.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from course_utils.paths import REPO_ROOT, data_dir, shipped_dir
from course_utils.lessons.lesson04.errors import DataError

__all__ = [
    "IMAGE_MAGIC",
    "LABEL_MAGIC",
    "SHIPPED_MD5",
    "MnistSplit",
    "DeviceBatches",
    "data_dir",
    "read_idx",
    "md5_of",
    "verify_md5",
    "load_shipped_split",
    "load_mnist",
    "to_model_range",
]

IMAGE_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions (N, rows, cols)
LABEL_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension (N,)
SHIPPED_DIR = "mnist-t10k"
SHIPPED_MD5 = {
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
_TRAIN_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")


def _shown(path: Path) -> str:
    """``path`` relative to the repository or the working directory when possible."""
    for base in (REPO_ROOT, Path.cwd()):
        try:
            return str(path.resolve().relative_to(base))
        except ValueError:
            continue
    return str(path)


def _read_bytes(path: Path) -> bytes:
    """The file's content, gunzipped when it starts with the gzip signature."""
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as err:
        raise DataError(f"{path} is a truncated or corrupt gzip file ({err}); delete it and fetch it again") from None


def read_idx(path: str | Path, expected_magic: int) -> torch.Tensor:
    """Read one IDX file of unsigned bytes (gzip-compressed or raw) into a uint8 tensor.

    Args:
        path: the ``.gz`` or uncompressed IDX file.
        expected_magic: 2051 (:data:`IMAGE_MAGIC`) or 2049 (:data:`LABEL_MAGIC`).

    Returns:
        a CPU uint8 tensor whose shape is the header's dimensions.

    Raises:
        DataError: wrong magic number, unreadable gzip, or a byte count that does
            not match the header (a truncated or padded file).
    """
    if expected_magic not in (IMAGE_MAGIC, LABEL_MAGIC):
        raise ValueError(
            f"expected_magic must be {IMAGE_MAGIC} (images) or {LABEL_MAGIC} (labels), got {expected_magic!r}"
        )
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise DataError(f"{path} is too short to be an IDX file ({len(data)} bytes)")
    magic = int.from_bytes(data[:4], "big")
    if magic != expected_magic:
        raise DataError(
            f"{path} has IDX magic number {magic}, expected {expected_magic}; is it the wrong file, or corrupt?"
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path} ends inside its IDX header ({len(data)} bytes)")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(data) != expected:
        raise DataError(
            f"{path} holds {len(data):,} bytes but its header {dims} needs "
            f"{expected:,}: the file is truncated or corrupt"
        )
    values = np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)
    return torch.from_numpy(values.copy())


def md5_of(path: str | Path) -> str:
    """Hex md5 of a file's bytes."""
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_md5(path: str | Path, expected: str) -> None:
    """Raise :class:`DataError` unless ``path`` exists and its md5 is ``expected``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} is missing")
    actual = md5_of(path)
    if actual != expected:
        raise DataError(f"{path} is corrupt or modified: md5 {actual}, expected {expected}")


@dataclass(frozen=True)
class MnistSplit:
    """One MNIST split: ``images`` uint8 ``[N, 28, 28]`` and ``labels`` uint8 ``[N]``."""

    images: torch.Tensor
    labels: torch.Tensor
    source: str  # one line saying which files these are

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def nbytes(self) -> int:
        return self.images.numel() * self.images.element_size()


def _check_pair(images: torch.Tensor, labels: torch.Tensor, where: str) -> None:
    if images.dim() != 3 or tuple(images.shape[1:]) != (28, 28):
        raise DataError(f"{where}: images must be [N, 28, 28], got {tuple(images.shape)}")
    if labels.dim() != 1 or labels.shape[0] != images.shape[0]:
        raise DataError(f"{where}: {images.shape[0]} images but labels of shape {tuple(labels.shape)}")
    if int(labels.max()) > 9:
        raise DataError(f"{where}: labels must be digits 0-9, found {int(labels.max())}")


def load_shipped_split(root: str | Path | None = None, device: str | torch.device = "cpu") -> MnistSplit:
    """The 10,000-digit test split shipped in ``<data>/mnist-t10k/``, md5-verified."""
    folder = Path(root) if root is not None else shipped_dir() / SHIPPED_DIR
    missing = [name for name in SHIPPED_MD5 if not (folder / name).is_file()]
    if missing:
        raise DataError(
            f"The offline MNIST copy is missing {', '.join(missing)} in {folder}. "
            "Work from a full clone of the course repository, or set "
            "COURSE_DATA_DIR to a folder that contains mnist-t10k/."
        )
    try:
        for name, md5 in SHIPPED_MD5.items():
            verify_md5(folder / name, md5)
        images = read_idx(folder / "t10k-images-idx3-ubyte.gz", IMAGE_MAGIC)
        labels = read_idx(folder / "t10k-labels-idx1-ubyte.gz", LABEL_MAGIC)
        _check_pair(images, labels, str(folder))
    except DataError as err:
        raise DataError(f"{err}. Restore the shipped copy with `git checkout -- data/mnist-t10k`.") from None
    return MnistSplit(
        images.to(device), labels.to(device), f"MNIST test split, 10,000 digits shipped in {_shown(folder)}"
    )


def _fetch_with_torchvision(root: Path) -> Path:
    """Ask torchvision to download the training split; return its raw folder."""
    import torchvision

    torchvision.datasets.MNIST(str(root), train=True, download=True)
    return root / "MNIST" / "raw"


def _torchvision_md5() -> dict[str, str]:
    import torchvision

    return dict(torchvision.datasets.MNIST.resources)


def _read_train_split(raw: Path) -> tuple[torch.Tensor, torch.Tensor]:
    md5s = _torchvision_md5()
    for name in _TRAIN_FILES:
        if name in md5s:
            verify_md5(raw / name, md5s[name])
    images = read_idx(raw / _TRAIN_FILES[0], IMAGE_MAGIC)
    labels = read_idx(raw / _TRAIN_FILES[1], LABEL_MAGIC)
    _check_pair(images, labels, str(raw))
    return images, labels


def _short(err: BaseException) -> str:
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    return (lines[-1] if lines else type(err).__name__)[:100]


def load_mnist(
    device: str | torch.device = "cpu", *, source: str = "auto", root: str | Path | None = None, verbose: bool = True
) -> MnistSplit:
    """Load MNIST digits as one uint8 tensor on ``device``.

    Args:
        device: where the images live for training (47 MB for 60k digits).
        source: ``"auto"`` (torchvision's 60k training split, else the shipped 10k
            test split, saying so), ``"torchvision"`` (never fall back) or
            ``"shipped"`` (the 10k test split, no download attempted).
        root: the data folder (default :func:`data_dir`).
        verbose: print a line saying which data were loaded.
    """
    if source not in ("auto", "torchvision", "shipped"):
        raise ValueError(f"source must be 'auto', 'torchvision' or 'shipped', got {source!r}")
    shipped = (Path(root) if root is not None else shipped_dir()) / SHIPPED_DIR
    root = Path(root) if root is not None else data_dir()
    if source == "shipped":
        split = load_shipped_split(shipped, device)
        if verbose:
            print(f"Loaded the {split.source} (md5 verified).")
        return split
    problem = None
    for attempt in range(2):  # a copy that fails verification is fetched once more
        try:
            raw = _fetch_with_torchvision(root)
            images, labels = _read_train_split(raw)
        except DataError as err:
            problem = f"downloaded copy failed verification: {_short(err)}"
            for name in _TRAIN_FILES:  # delete it so that the next attempt re-downloads
                for stale in (root / "MNIST" / "raw").glob(name.replace(".gz", "") + "*"):
                    stale.unlink()
            continue
        except Exception as err:  # any download failure means "offline"
            problem = f"no download possible ({type(err).__name__}: {_short(err)})"
            break
        split = MnistSplit(
            images.to(device),
            labels.to(device),
            f"MNIST training split, 60,000 digits via torchvision in {_shown(raw)}",
        )
        if verbose:
            print(f"Loaded the {split.source} (md5 verified).")
        return split
    if source == "torchvision":
        raise DataError(
            f"MNIST via torchvision failed: {problem}. Check the internet "
            "connection, or call load_mnist(source='shipped')."
        )
    split = load_shipped_split(shipped, device)
    if verbose:
        print(f"MNIST: {problem}; using the shipped 10,000-digit test split instead (md5 verified, CC BY-SA 3.0).")
    return split


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``[B, 28, 28]`` in 0..255 -> float32 ``[B, 1, 28, 28]`` in [-1, 1].

    Same numbers as the original notebook's ``ToTensor()`` then ``Normalize((0.5,), (0.5,))``.
    """
    if images.dtype != torch.uint8 or images.dim() != 3:
        raise ValueError(f"images must be uint8 [B, H, W], got {images.dtype} {tuple(images.shape)}")
    x = images.unsqueeze(1).to(torch.float32)  # (B, H, W) -> (B, 1, H, W)
    return x.div_(127.5).sub_(1.0)


class DeviceBatches:
    """Shuffled batches drawn from a uint8 image tensor that already lives on the device.

    Each epoch is one permutation drawn from the batches' own CPU generator, so two
    objects built with the same ``seed`` yield the same digits in the same order on
    any device, untouched by the global RNG. The last incomplete batch is dropped,
    as in the original notebook's DataLoader (``drop_last=True``).
    """

    def __init__(self, images: torch.Tensor, batch_size: int, seed: int) -> None:
        if images.dtype != torch.uint8 or images.dim() != 3:
            raise ValueError(f"images must be uint8 [N, H, W], got {images.dtype} {tuple(images.shape)}")
        if not isinstance(batch_size, int) or not 1 <= batch_size <= images.shape[0]:
            raise ValueError(
                f"batch_size must be an int in 1..{images.shape[0]} (the number of images), got {batch_size!r}"
            )
        self.images = images
        self.batch_size = batch_size
        self.generator = torch.Generator(device="cpu").manual_seed(seed)

    def __len__(self) -> int:
        return self.images.shape[0] // self.batch_size

    def epoch(self) -> Iterator[torch.Tensor]:
        """Yield one epoch of float32 batches ``[batch_size, 1, 28, 28]`` in [-1, 1]."""
        order = torch.randperm(self.images.shape[0], generator=self.generator)
        order = order.to(self.images.device)
        for i in range(len(self)):
            idx = order[i * self.batch_size : (i + 1) * self.batch_size]
            yield to_model_range(self.images[idx])
