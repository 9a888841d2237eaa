"""Comparing two profiles: counts and rankings exactly, sums within a stated tolerance."""

import numpy as np

from ddp_widgets import Profile


def _close(actual: np.ndarray, desired: np.ndarray, scale: np.ndarray, rtol: float) -> None:
    """|actual - desired| <= rtol (|desired| + scale): a sum of terms of both signs is only as exact as its
    terms."""
    bad = ~(np.abs(actual - desired) <= rtol * (np.abs(desired) + scale))
    assert not bad.any(), (
        f"{bad.sum()} entries differ beyond rtol {rtol}: {actual[bad][:3]} vs {desired[bad][:3]}"
    )


def assert_same(a: Profile, b: Profile, *, rtol: float, exact_ranks: bool = True) -> None:
    assert a.class_names == b.class_names and a.layers == b.layers and a.n_images == b.n_images
    np.testing.assert_array_equal(a.class_counts, b.class_counts)
    for n in a.layers:
        np.testing.assert_array_equal(a.influence_counts(n), b.influence_counts(n))
        sa, sb = a._stats[n], b._stats[n]
        # the scale of the summed terms: Σ|s| <= sqrt(n Σs²) (Cauchy-Schwarz), per class and neuron
        rms = np.sqrt(sb.count.numpy()[:, None] * sb.sumsq.numpy())
        _close(sa.sum.numpy(), sb.sum.numpy(), rms, rtol)
        _close(sa.sumsq.numpy(), sb.sumsq.numpy(), 0 * rms, rtol)
        _close(sa.infl_ddp.numpy(), sb.infl_ddp.numpy(), 0 * rms, rtol)
        _close(sa.infl_weight.numpy(), sb.infl_weight.numpy(), 0 * rms, rtol)
        if exact_ranks:
            for f in ("top_index", "bottom_index", "top_score", "bottom_score"):
                np.testing.assert_array_equal(
                    getattr(a._stats[n], f).numpy(), getattr(b._stats[n], f).numpy()
                )
