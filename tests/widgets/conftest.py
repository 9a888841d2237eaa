"""Fixtures of the widget tests: a tiny CNN with a real analysis and profile, and widget-state helpers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import ddp_widgets as dw

torch.set_num_threads(1)

N_IMAGES, N_CLASSES = 60, 3
CLASS_NAMES = ["circle", "square", "stripe"]


def tiny_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 6, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(6, 8, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(3),
        nn.Flatten(),
        nn.Linear(8 * 3 * 3, N_CLASSES),
    ).eval()


@pytest.fixture(scope="module")
def model() -> nn.Module:
    return tiny_cnn()


@pytest.fixture(scope="module")
def data() -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    g = torch.Generator().manual_seed(1)
    labels = torch.arange(N_IMAGES) % N_CLASSES
    images = torch.rand(N_IMAGES, 1, 12, 12, generator=g) + labels.view(-1, 1, 1, 1) * 0.5
    raw = (images[:, 0].clamp(0, 2) / 2 * 255).to(torch.uint8).numpy()
    return images, labels, raw


@pytest.fixture(scope="module")
def analysis(model: nn.Module) -> Any:
    return dw.SpectralAnalysis(model, torch.zeros(1, 1, 12, 12), progress=False)


@pytest.fixture(scope="module")
def profile(analysis: Any, data: Any) -> Any:
    images, labels, _ = data
    # threshold 0.5: several neurons per class, so the hypergraph has something to draw
    return dw.Profiler(analysis).profile(
        images, labels, class_names=CLASS_NAMES, threshold=0.5, progress=False
    )


@pytest.fixture
def explorer(analysis: Any, profile: Any, data: Any) -> Iterator[Any]:
    from ddp_widgets.widgets import Explorer

    ex = Explorer(analysis, profile=profile, images=data[2], labels=data[1], title="tiny")
    yield ex
    ex.close()
