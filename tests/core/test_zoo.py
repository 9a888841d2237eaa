"""The embedded default model and data (ddp_widgets.zoo): offline, a few seconds."""

from __future__ import annotations

import gzip
import importlib.util
import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from ddp_widgets import zoo
from ddp_widgets.zoo import (
    CLASS_NAMES,
    TEST_ACCURACY,
    DefaultData,
    MiniVGG,
    default_example_input,
    load_default_data,
    load_default_model,
    normalize,
)

REPO = Path(__file__).resolve().parents[2]
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="module")
def model() -> MiniVGG:
    return load_default_model()


@pytest.fixture(scope="module")
def data() -> DefaultData:
    return load_default_data()


def _train_script():
    path = REPO / "scripts" / "train_default_model.py"
    spec = importlib.util.spec_from_file_location("train_default_model", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- checkpoint and model


def test_checkpoint_is_a_plain_float32_state_dict_matching_minivgg():
    state = torch.load(zoo.DATA_DIR / zoo.CHECKPOINT_FILE, map_location="cpu", weights_only=True)
    expected = MiniVGG().state_dict()
    assert list(state) == list(expected)
    for key, tensor in state.items():
        assert isinstance(tensor, torch.Tensor)
        assert tensor.dtype == torch.float32, key
        assert tensor.shape == expected[key].shape, key
        assert torch.isfinite(tensor).all(), key


def test_model_is_in_eval_mode_and_gives_logits(model):
    assert isinstance(model, MiniVGG)
    assert not model.training
    assert all(not m.training for m in model.modules())
    assert next(model.parameters()).device.type == "cpu"
    with torch.inference_mode():
        out = model(torch.randn(5, 1, 28, 28))
        probe = model(default_example_input())
    assert out.shape == (5, 10) and out.dtype == torch.float32
    assert probe.shape == (1, 10)


def test_default_example_input():
    x = default_example_input()
    assert x.shape == (1, 1, 28, 28) and x.dtype == torch.float32
    assert not x.any()


def test_architecture_is_plain_vgg_with_torchvision_style_names(model):
    weighted = [(name, type(m)) for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert weighted == [
        ("features.0", nn.Conv2d),
        ("features.2", nn.Conv2d),
        ("features.5", nn.Conv2d),
        ("features.7", nn.Conv2d),
        ("classifier.0", nn.Linear),
        ("classifier.3", nn.Linear),
    ]
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    assert all(not m.inplace for m in model.modules() if isinstance(m, nn.ReLU))


def test_accuracy_on_shipped_samples(model, data):
    with torch.inference_mode():
        pred = torch.cat([model(x).argmax(1) for x, _ in data.loader(batch_size=250)])
    accuracy = (pred == data.labels).float().mean().item()
    assert accuracy >= 0.85, accuracy


def test_recorded_test_accuracy_matches_training_metadata():
    meta = json.loads((zoo.DATA_DIR / "minivgg_fashion_mnist.json").read_text())
    assert meta["test_images"] == 10000
    assert TEST_ACCURACY == pytest.approx(meta["test_accuracy"], abs=5e-5)
    assert TEST_ACCURACY >= 0.88


# --------------------------------------------------------------------------- data


def test_data_shapes_dtypes_and_balance(data):
    assert len(data) == 1000
    assert data.images.shape == (1000, 1, 28, 28) and data.images.dtype == torch.float32
    assert data.labels.shape == (1000,) and data.labels.dtype == torch.int64
    assert isinstance(data.raw, np.ndarray)
    assert data.raw.shape == (1000, 28, 28) and data.raw.dtype == np.uint8
    assert data.class_names == CLASS_NAMES
    assert torch.bincount(data.labels, minlength=10).tolist() == [100] * 10
    # class-interleaved order: 0, 1, ..., 9, 0, 1, ...
    assert data.labels.tolist() == list(range(10)) * 100


def test_images_are_normalised_raw_pixels(data):
    assert torch.equal(data.images, normalize(data.raw))
    expected = (torch.from_numpy(data.raw[:3]).float() / 255 - zoo.MEAN) / zoo.STD
    assert torch.allclose(data.images[:3, 0], expected)
    # normalised Fashion-MNIST has roughly zero mean and unit variance
    assert abs(data.images.mean().item()) < 0.2
    assert 0.8 < data.images.std().item() < 1.2


def test_first_n_covers_all_classes():
    d = load_default_data(n=20)
    assert len(d) == 20 and d.raw.shape == (20, 28, 28)
    assert set(d.labels.tolist()) == set(range(10))
    assert torch.bincount(d.labels, minlength=10).tolist() == [2] * 10
    assert set(load_default_data(n=10).labels.tolist()) == set(range(10))


@pytest.mark.parametrize("bad", [0, -1, 1001, 2.5, True])
def test_bad_n_is_rejected(bad):
    with pytest.raises(ValueError, match="n must be"):
        load_default_data(n=bad)


def test_dataset_and_loader(data):
    ds = data.dataset()
    assert len(ds) == 1000
    x, y = ds[0]
    assert x.shape == (1, 28, 28) and y.item() == 0
    batches = list(data.loader())
    assert len(batches) == 10
    assert batches[0][0].shape == (100, 1, 28, 28) and batches[0][1].shape == (100,)
    assert torch.equal(torch.cat([b[1] for b in batches]), data.labels)
    shuffled = torch.cat([b[1] for b in data.loader(batch_size=64, shuffle=True)])
    assert sorted(shuffled.tolist()) == sorted(data.labels.tolist())


def test_default_data_is_frozen(data):
    with pytest.raises(AttributeError):
        data.labels = torch.zeros(3)  # type: ignore[misc]


def test_data_files_are_small():
    files = [p for p in zoo.DATA_DIR.iterdir() if p.is_file()]
    names = {p.name for p in files}
    assert {zoo.CHECKPOINT_FILE, zoo.SAMPLES_FILE, "LICENSE-fashion-mnist.txt"} <= names
    assert sum(p.stat().st_size for p in files) <= 3 * 1024 * 1024


def test_licence_notice():
    text = (zoo.DATA_DIR / "LICENSE-fashion-mnist.txt").read_text()
    assert "Zalando Research" in text
    assert "Copyright (c) 2017 Zalando SE" in text
    assert "Permission is hereby granted, free of charge" in text


def test_missing_data_file_says_reinstall(monkeypatch, tmp_path):
    monkeypatch.setattr(zoo, "DATA_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match="reinstall ddp-widgets"):
        load_default_model()
    with pytest.raises(FileNotFoundError, match="reinstall ddp-widgets"):
        load_default_data()


@pytest.mark.parametrize("compressed", [False, True])
def test_idx_reader_plain_and_gzip(tmp_path, compressed):
    script = _train_script()
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    payload = struct.pack(">HBB3I", 0, 0x08, 3, 2, 28, 28) + images.tobytes()
    name = "t10k-images-idx3-ubyte"
    if compressed:
        (tmp_path / f"{name}.gz").write_bytes(gzip.compress(payload))
    else:
        (tmp_path / name).write_bytes(payload)
    path = script.find_idx(tmp_path, name)
    assert np.array_equal(script.read_idx(path), images)


def test_stratified_interleaved_order():
    script = _train_script()
    labels = np.array([3, 0, 1, 0, 2, 1, 2, 3, 0, 1, 2, 3])
    idx = script.stratified_interleaved(labels, per_class=2, num_classes=4)
    assert labels[idx].tolist() == [0, 1, 2, 3, 0, 1, 2, 3]
    assert idx.tolist() == [1, 2, 4, 0, 3, 5, 6, 7]


@pytest.mark.skipif(
    not DEBIAN_FASHION_MNIST.is_dir(), reason="Debian's dataset-fashion-mnist is not installed"
)
def test_shipped_samples_are_the_recorded_test_images():
    script = _train_script()
    test_images, test_labels = script.load_split(DEBIAN_FASHION_MNIST, "t10k")
    with np.load(zoo.DATA_DIR / zoo.SAMPLES_FILE, allow_pickle=False) as npz:
        idx = npz["test_indices"]
        assert len(set(idx.tolist())) == 1000
        assert np.array_equal(npz["images"], test_images[idx])
        assert np.array_equal(npz["labels"], test_labels[idx])
