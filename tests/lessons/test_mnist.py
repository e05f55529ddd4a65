"""MNIST loading: the IDX reader, md5 checks, the offline fallback and device batches."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from course_utils import mnist, paths
from course_utils.lessons.lesson04.errors import DataError, LessonError

REPO_DATA = paths.REPO_DATA


def write_idx(path: Path, values: np.ndarray, magic: int, *, compress: bool, cut: int = 0) -> Path:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in values.shape)
    payload = header + values.astype(np.uint8).tobytes()
    payload = payload[: len(payload) - cut]
    path.write_bytes(gzip.compress(payload) if compress else payload)
    return path


@pytest.fixture
def digits() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(5, 28, 28), dtype=np.uint8)


@pytest.mark.parametrize("compress", [True, False])
def test_read_idx_good_file(tmp_path, digits, compress):
    path = write_idx(tmp_path / "img", digits, mnist.IMAGE_MAGIC, compress=compress)
    out = mnist.read_idx(path, mnist.IMAGE_MAGIC)
    assert out.dtype == torch.uint8 and tuple(out.shape) == (5, 28, 28)
    assert np.array_equal(out.numpy(), digits)


@pytest.mark.parametrize("compress", [True, False])
def test_read_idx_truncated_file(tmp_path, digits, compress):
    path = write_idx(tmp_path / "img", digits, mnist.IMAGE_MAGIC, compress=compress, cut=100)
    with pytest.raises(DataError, match="truncated"):
        mnist.read_idx(path, mnist.IMAGE_MAGIC)


def test_read_idx_cut_gzip_stream(tmp_path, digits):
    path = write_idx(tmp_path / "img.gz", digits, mnist.IMAGE_MAGIC, compress=True)
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(DataError, match="truncated or corrupt gzip"):
        mnist.read_idx(path, mnist.IMAGE_MAGIC)


def test_read_idx_wrong_magic(tmp_path):
    path = write_idx(tmp_path / "labels", np.arange(10), mnist.LABEL_MAGIC, compress=False)
    with pytest.raises(DataError, match="magic number 2049, expected 2051"):
        mnist.read_idx(path, mnist.IMAGE_MAGIC)
    with pytest.raises(ValueError, match="expected_magic"):
        mnist.read_idx(path, 1234)


def test_shipped_split_is_verified_and_complete():
    for name, md5 in mnist.SHIPPED_MD5.items():
        mnist.verify_md5(REPO_DATA / "mnist-t10k" / name, md5)
    assert "CC BY-SA 3.0" in (REPO_DATA / "mnist-t10k" / "README.md").read_text()
    split = mnist.load_shipped_split(REPO_DATA / "mnist-t10k")
    assert len(split) == 10_000 and tuple(split.images.shape) == (10_000, 28, 28)
    assert split.images.dtype == torch.uint8 and split.nbytes == 7_840_000
    assert sorted(torch.unique(split.labels).tolist()) == list(range(10))


@pytest.fixture
def data_root(tmp_path) -> Path:
    shutil.copytree(REPO_DATA / "mnist-t10k", tmp_path / "mnist-t10k")
    return tmp_path


def test_md5_catches_a_corrupt_copy(data_root):
    path = data_root / "mnist-t10k" / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(path.read_bytes())
    raw[100] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="md5.*git checkout"):
        mnist.load_shipped_split(data_root / "mnist-t10k")


def test_missing_shipped_files_say_what_to_do(tmp_path):
    with pytest.raises(DataError, match="missing.*COURSE_DATA_DIR"):
        mnist.load_shipped_split(tmp_path / "mnist-t10k")


def _offline(root):
    raise RuntimeError(
        "Error downloading train-images-idx3-ubyte.gz:\n<urlopen error [Errno -2] Name or service not known>"
    )


def test_offline_falls_back_to_the_shipped_split_in_one_line(data_root, monkeypatch, capsys):
    monkeypatch.setattr(mnist, "_fetch_with_torchvision", _offline)
    split = mnist.load_mnist(root=data_root)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    assert "no download possible" in lines[0] and "shipped 10,000-digit test split" in lines[0]
    assert len(split) == 10_000 and "test split" in split.source


def test_corrupt_download_is_fetched_again_then_reported(data_root, monkeypatch, capsys, digits):
    calls = []

    def corrupt_fetch(root):
        calls.append(root)
        raw = root / "MNIST" / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        write_idx(raw / "train-images-idx3-ubyte.gz", digits, mnist.IMAGE_MAGIC, compress=True)
        write_idx(raw / "train-labels-idx1-ubyte.gz", np.zeros(5), mnist.LABEL_MAGIC, compress=True)
        return raw

    monkeypatch.setattr(mnist, "_fetch_with_torchvision", corrupt_fetch)
    split = mnist.load_mnist(root=data_root)
    assert len(calls) == 2  # fetched once more after failing verification
    out = capsys.readouterr().out
    assert "failed verification" in out and len(split) == 10_000


def test_good_download_is_used(data_root, monkeypatch, digits):
    def good_fetch(root):
        raw = root / "MNIST" / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        write_idx(raw / "train-images-idx3-ubyte.gz", digits, mnist.IMAGE_MAGIC, compress=True)
        write_idx(raw / "train-labels-idx1-ubyte.gz", np.arange(5), mnist.LABEL_MAGIC, compress=True)
        return raw

    monkeypatch.setattr(mnist, "_fetch_with_torchvision", good_fetch)
    monkeypatch.setattr(mnist, "_torchvision_md5", lambda: {})  # generated files: no md5 table
    split = mnist.load_mnist(root=data_root, verbose=False)
    assert len(split) == 5 and "training split" in split.source


def test_torchvision_only_raises_a_friendly_error(data_root, monkeypatch):
    monkeypatch.setattr(mnist, "_fetch_with_torchvision", _offline)
    with pytest.raises(DataError, match="source='shipped'") as info:
        mnist.load_mnist(root=data_root, source="torchvision")
    assert isinstance(info.value, LessonError)
    assert info.value._render_traceback_() == [f"DataError: {info.value}"]


def test_to_model_range_matches_torchvision_transforms():
    from PIL import Image
    from torchvision import transforms

    images = torch.randint(0, 256, (3, 28, 28), dtype=torch.uint8)
    ours = mnist.to_model_range(images)
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    theirs = torch.stack([tf(Image.fromarray(img.numpy(), mode="L")) for img in images])
    assert ours.shape == (3, 1, 28, 28) and torch.allclose(ours, theirs, atol=1e-6)
    with pytest.raises(ValueError, match="uint8"):
        mnist.to_model_range(ours)


def test_device_batches_are_reproducible_and_in_range():
    images = torch.randint(0, 256, (50, 28, 28), dtype=torch.uint8)
    a = list(mnist.DeviceBatches(images, 16, seed=3).epoch())
    torch.manual_seed(123)  # the global RNG must not matter
    b = list(mnist.DeviceBatches(images, 16, seed=3).epoch())
    assert len(a) == 3 and all(x.shape == (16, 1, 28, 28) for x in a)  # last partial batch dropped
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert min(float(x.min()) for x in a) >= -1.0 and max(float(x.max()) for x in a) <= 1.0
    with pytest.raises(ValueError, match="batch_size"):
        mnist.DeviceBatches(images, 64, seed=0)
