#!/usr/bin/env python
"""Train the embedded default model (MiniVGG on Fashion-MNIST) and write the package data files.

Usage (from the repository root)::

    apt-get install dataset-fashion-mnist      # Debian: /usr/share/datasets/fashion-mnist
    python scripts/train_default_model.py      # ~4-5 minutes on 2 CPU cores

Reads the four idx files of Fashion-MNIST (gzip'ed or not) from --data-dir, trains
``ddp_widgets.zoo.model.MiniVGG`` with Adam, evaluates it on the full 10,000-image test set and
writes into --out-dir (default: ddp_widgets/zoo/data):

* ``minivgg_fashion_mnist.pt``   the state_dict only (float32), loadable with weights_only=True
* ``fashion_mnist_samples.npz``  1000 test images (100 per class, class-interleaved order)
* ``minivgg_fashion_mnist.json`` how the checkpoint was made and its measured test accuracy

The licence notice ``LICENSE-fashion-mnist.txt`` in the same folder is maintained by hand.
After a retrain, copy the printed accuracy into ``TEST_ACCURACY`` in ddp_widgets/zoo/__init__.py
(a test checks that it matches the JSON file).

The run is deterministic for a given seed, torch build and thread count (seeded generators,
``torch.use_deterministic_algorithms(True)``, a fixed number of threads).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import platform
import struct
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # import ddp_widgets.zoo.model from this checkout, installed or not

from ddp_widgets.zoo.model import CLASS_NAMES, MEAN, STD, MiniVGG

DEFAULT_DATA_DIR = Path("/usr/share/datasets/fashion-mnist")
DEFAULT_OUT_DIR = REPO / "ddp_widgets" / "zoo" / "data"

CHECKPOINT_NAME = "minivgg_fashion_mnist.pt"
SAMPLES_NAME = "fashion_mnist_samples.npz"
METADATA_NAME = "minivgg_fashion_mnist.json"


# --------------------------------------------------------------------------- data


def find_idx(data_dir: Path, stem: str) -> Path:
    """The idx file ``stem`` in ``data_dir``, plain or with a ``.gz`` suffix."""
    for candidate in (data_dir / stem, data_dir / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"{stem}[.gz] not found in {data_dir}. Install Debian's dataset-fashion-mnist "
        "(apt-get install dataset-fashion-mnist) or pass --data-dir."
    )


def read_idx(path: Path) -> np.ndarray:
    """Parse an idx file (unsigned-byte data only, which is what Fashion-MNIST uses)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte idx file (header {raw[:4].hex()})")
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    offset = 4 + 4 * ndim
    count = int(np.prod(shape))
    if len(raw) - offset != count:
        raise ValueError(f"{path}: expected {count} bytes of data, found {len(raw) - offset}")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(shape).copy()


def load_split(data_dir: Path, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(find_idx(data_dir, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(find_idx(data_dir, f"{prefix}-labels-idx1-ubyte"))
    if images.shape[1:] != (28, 28) or images.shape[0] != labels.shape[0]:
        raise ValueError(f"unexpected {prefix} shapes: images {images.shape}, labels {labels.shape}")
    return images, labels.astype(np.int64)


def normalise(images: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(images).to(torch.float32).div_(255.0)
    return x.sub_(MEAN).div_(STD).unsqueeze(1)


def stratified_interleaved(labels: np.ndarray, per_class: int, num_classes: int) -> np.ndarray:
    """Indices of the first ``per_class`` images of each class (in file order), interleaved
    class by class: c0, c1, ..., c9, c0, c1, ... so that any prefix is balanced."""
    by_class = []
    for c in range(num_classes):
        idx = np.flatnonzero(labels == c)
        if idx.size < per_class:
            raise ValueError(f"class {c} has only {idx.size} images, {per_class} requested")
        by_class.append(idx[:per_class])
    return np.stack(by_class, axis=1).reshape(-1).astype(np.int64)  # (per_class, C) row-major


# --------------------------------------------------------------------------- training


@torch.inference_mode()
def evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 1000) -> float:
    model.eval()
    correct = 0
    for i in range(0, x.shape[0], batch):
        correct += int((model(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum())
    return correct / x.shape[0]


def train(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)

    t_load = time.perf_counter()
    train_images, train_labels = load_split(args.data_dir, "train")
    test_images, test_labels = load_split(args.data_dir, "t10k")
    x_train, y_train = normalise(train_images), torch.from_numpy(train_labels)
    x_test, y_test = normalise(test_images), torch.from_numpy(test_labels)
    print(
        f"data: {len(x_train)} train / {len(x_test)} test images from {args.data_dir} "
        f"({time.perf_counter() - t_load:.1f} s)"
    )

    model = MiniVGG()
    optimiser = torch.optim.Adam(model.parameters(), lr=args.lr)
    steps_per_epoch = (len(x_train) + args.batch_size - 1) // args.batch_size
    total_steps = args.epochs * steps_per_epoch
    if args.max_steps:
        total_steps = min(total_steps, args.max_steps)
    # Cosine decay of the learning rate to zero over the run.
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=total_steps)
    shuffle_gen = torch.Generator().manual_seed(args.seed + 1)

    t_train = time.perf_counter()
    step = 0
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(x_train), generator=shuffle_gen)
        running_loss, seen = 0.0, 0
        t_epoch = time.perf_counter()
        for i in range(0, len(order), args.batch_size):
            if step >= total_steps:
                break
            idx = order[i : i + args.batch_size]
            xb, yb = x_train[idx], y_train[idx]
            loss = F.cross_entropy(model(xb), yb)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            scheduler.step()
            step += 1
            running_loss += float(loss.detach()) * len(idx)
            seen += len(idx)
        if seen:
            print(
                f"epoch {epoch + 1}/{args.epochs}: train loss {running_loss / seen:.4f} "
                f"({seen} images, {time.perf_counter() - t_epoch:.1f} s)",
                flush=True,
            )
    train_seconds = time.perf_counter() - t_train

    t_eval = time.perf_counter()
    test_accuracy = evaluate(model, x_test, y_test)
    eval_seconds = time.perf_counter() - t_eval
    print(f"training time: {train_seconds:.1f} s ({step} steps, {args.threads} threads)")
    print(f"test accuracy (full {len(x_test)}-image test set): {test_accuracy:.4f}  ({eval_seconds:.1f} s)")

    # ---- the shipped sample: 100 test images per class, class-interleaved
    sample_idx = stratified_interleaved(test_labels, args.samples_per_class, len(CLASS_NAMES))
    sample_accuracy = evaluate(model, x_test[sample_idx], y_test[sample_idx])
    print(f"accuracy on the {len(sample_idx)} shipped samples: {sample_accuracy:.4f}")

    # ---- write the package data
    args.out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to(torch.float32).contiguous().clone() for k, v in model.state_dict().items()}
    ckpt_path = args.out_dir / CHECKPOINT_NAME
    torch.save(state, ckpt_path)
    # It must load without unpickling arbitrary objects.
    reloaded = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    assert list(reloaded) == list(state)

    samples_path = args.out_dir / SAMPLES_NAME
    np.savez_compressed(
        samples_path,
        images=test_images[sample_idx],
        labels=test_labels[sample_idx].astype(np.int64),
        class_names=np.array(CLASS_NAMES),
        test_indices=sample_idx,
    )

    metadata = {
        "model": "ddp_widgets.zoo.model.MiniVGG",
        "dataset": "Fashion-MNIST (Zalando Research, MIT licence)",
        "data_dir": str(args.data_dir),
        "normalisation": {"mean": MEAN, "std": STD},
        "epochs": args.epochs,
        "steps": step,
        "batch_size": args.batch_size,
        "optimiser": "Adam",
        "lr": args.lr,
        "lr_schedule": "cosine annealing to 0 over all steps",
        "seed": args.seed,
        "threads": args.threads,
        "test_accuracy": round(test_accuracy, 4),
        "test_images": len(x_test),
        "sample_accuracy": round(sample_accuracy, 4),
        "samples": len(sample_idx),
        "train_seconds": round(train_seconds, 1),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "checkpoint_sha256": hashlib.sha256(ckpt_path.read_bytes()).hexdigest(),
    }
    meta_path = args.out_dir / METADATA_NAME
    meta_path.write_text(json.dumps(metadata, indent=2) + "\n")

    for path in (ckpt_path, samples_path, meta_path):
        print(f"wrote {path} ({path.stat().st_size / 1e6:.3f} MB)")
    print(f"checkpoint sha256 {metadata['checkpoint_sha256']}")
    print(f"-> set TEST_ACCURACY = {round(test_accuracy, 4)} in ddp_widgets/zoo/__init__.py")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="folder of the idx files")
    p.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR, help="where to write the data files")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--samples-per-class", type=int, default=100)
    p.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (smoke tests)")
    train(p.parse_args(argv))


if __name__ == "__main__":
    main()
