"""Shared test setup: one thread for torch and for numpy's OpenBLAS, offline only.

On the 2-core CI box two threads were several times slower for torch, and numpy's OpenBLAS SVD was
~18x slower with two threads than with one (ENVIRONMENT.md).
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # for numpy loaded later and for subprocesses
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch

torch.set_num_threads(1)

try:  # numpy may already be loaded (by a plugin) with its default thread count
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn, which hypernetx needs
    pass
