"""Shared fixtures of the neuron tests: the embedded default model, its 1000 images and a profile of them."""

from __future__ import annotations

import pytest

import ddp_widgets as dw
from ddp_widgets.zoo import load_default_data, load_default_model


@pytest.fixture(scope="session")
def default_data():
    return load_default_data()


@pytest.fixture(scope="session")
def default_profiler():
    return dw.Profiler(load_default_model())


@pytest.fixture(scope="session")
def default_profile(default_profiler, default_data):
    d = default_data
    return default_profiler.profile(d.images, d.labels, class_names=d.class_names, progress=False)
