"""Registers the `packaging` marker of the labextension tests."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "packaging: builds the wheel and sdist and installs the wheel in a fresh venv (~1 min)"
    )
