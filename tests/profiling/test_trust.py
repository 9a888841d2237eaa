"""Profiles you can trust (issue 8): one regression test per defect found on main, and the acceptance laws.

Floats from different batchings are compared with tolerances (a batched forward pass differs in the last
bits between batch sizes); counts and rankings of the same batches are compared exactly.
"""

import warnings

import numpy as np
import pytest
import torch
from profile_checks import assert_same as _assert_same
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from ddp_widgets import Profile, Profiler
from ddp_widgets.core import DataError, InputShapeError
from ddp_widgets.core.errors import (
    DDPWidgetsDeprecationWarning,
    DDPWidgetsError,
    DDPWidgetsWarning,
    InvalidArgumentError,
    UnknownOptionError,
)
from ddp_widgets.zoo import load_default_data, load_default_model


def _tiny_model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 6, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 8, 3),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(8 * 5 * 5, 4),
    ).eval()


@pytest.fixture(scope="module")
def tiny():
    model = _tiny_model()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(60, 1, 14, 14, generator=g)
    y = torch.arange(60) % 4
    return model, x, y


# -- "Why": one regression test per defect ------------------------------------------------------------
def test_string_labels_follow_the_users_class_names(tiny):
    """On main, string labels were mapped in sorted order and the user's names pasted over those indices."""
    model, x, y = tiny
    names = ["zebra", "apple", "mango", "kiwi"]  # not sorted
    prof = Profiler(model)
    by_index = prof.profile(x, y, class_names=names, progress=False)
    by_name = prof.profile(x, [names[i] for i in y.tolist()], class_names=names, progress=False)
    assert by_name.class_names == names
    _assert_same(by_index, by_name, rtol=0)
    # and "zebra" holds the images labelled zebra
    s = prof.signals(x)["6"].double()
    np.testing.assert_allclose(by_name.class_mean("6")[0], s[y == 0].mean(0).numpy(), rtol=1e-6, atol=1e-7)
    with pytest.raises(DataError, match="'lion'.*not in class_names"):
        prof.profile(x[:2], ["lion", "zebra"], class_names=names, progress=False)


def test_class_names_are_validated(tiny):
    model, x, y = tiny
    prof = Profiler(model)
    with pytest.raises(DataError, match="not the string"):
        prof.profile(x, y, class_names="abcd", progress=False)
    with pytest.raises(DataError, match="not a dict"):
        prof.profile(x, y, class_names={0: "a", 1: "b", 2: "c", 3: "d"}, progress=False)
    with pytest.raises(DataError, match="unique.*'a'"):
        prof.profile(x, y, class_names=["a", "a", "b", "c"], progress=False)
    p = prof.profile(x, y, class_names=np.arange(4), progress=False)  # numbers become strings
    assert p.class_names == ["0", "1", "2", "3"]
    unnamed_strings = prof.profile(x, ["b" if v else "a" for v in (y % 2).tolist()], progress=False)
    assert unnamed_strings.class_names == ["a", "b"]  # sorted unique strings without class_names
    assert unnamed_strings.class_counts.tolist() == [30, 30]


def test_shuffled_loader_top_images_are_dataset_indices(tiny):
    """On main, top-image indices were iteration positions: a shuffled DataLoader showed the wrong images."""
    model, x, y = tiny
    prof = Profiler(model)
    ds = TensorDataset(x, y)
    torch.manual_seed(3)
    shuffled = prof.profile(DataLoader(ds, batch_size=7, shuffle=True), top_n=5, progress=False)
    whole = prof.signals(x)
    for n in prof.layers:
        s = whole[n].double()
        for a in range(s.shape[1]):
            idx, score = shuffled.top_images(n, a)
            np.testing.assert_allclose(
                s[idx, a].numpy(), score, rtol=1e-5, atol=1e-6
            )  # the images at those indices
            np.testing.assert_allclose(score, torch.topk(s[:, a], 5).values.numpy(), rtol=1e-5, atol=1e-6)
            bidx, bscore = shuffled.bottom_images(n, a)
            np.testing.assert_allclose(s[bidx, a].numpy(), bscore, rtol=1e-5, atol=1e-6)
    assert shuffled.index_ranges.tolist() == [[0, 60]]


def test_loader_with_workers_keeps_dataset_indices(tiny):
    model, x, y = tiny
    prof = Profiler(model, layers=["6"])
    loader = DataLoader(
        TensorDataset(x, y),
        batch_size=8,
        shuffle=True,
        num_workers=2,
        generator=torch.Generator().manual_seed(5),
    )
    p = prof.profile(loader, top_n=4, progress=False)
    s = prof.signals(x)["6"].double()
    for a in range(4):
        idx, score = p.top_images("6", a)
        np.testing.assert_allclose(s[idx, a].numpy(), score, rtol=1e-5, atol=1e-6)


def test_save_keeps_the_name_and_is_atomic(tiny, tmp_path, monkeypatch):
    """On main, save("exp.1") and save("exp.2") wrote the same file, and a failing JSON left new arrays beside
    old metadata."""
    model, x, y = tiny
    prof = Profiler(model, layers=["0"])
    a = prof.profile(x[:30], y[:30], progress=False)
    b = prof.profile(x[30:], y[30:], progress=False)
    assert a.save(tmp_path / "exp.1") == tmp_path / "exp.1.npz"
    assert b.save(tmp_path / "exp.2") == tmp_path / "exp.2.npz"
    assert Profile.load(tmp_path / "exp.1").n_images == 30
    np.testing.assert_array_equal(Profile.load(tmp_path / "exp.2.npz").class_mean("0"), b.class_mean("0"))
    # metadata that JSON cannot hold: a clear error, and the file from before is untouched
    b.meta["note"] = object()
    with pytest.raises(DDPWidgetsError, match="JSON"):
        b.save(tmp_path / "exp.1")
    np.testing.assert_array_equal(Profile.load(tmp_path / "exp.1").class_mean("0"), a.class_mean("0"))
    # numpy scalars are converted
    b.meta["note"] = np.int64(3)
    assert Profile.load(b.save(tmp_path / "exp.3")).meta["note"] == 3
    # a write failing half-way leaves neither a temporary file nor a corrupt profile
    real = np.savez_compressed

    def half(fh, **arrays):
        fh.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", half)
    with pytest.raises(OSError, match="disk full"):
        a.save(tmp_path / "exp.2")
    monkeypatch.setattr(np, "savez_compressed", real)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["exp.1.npz", "exp.2.npz", "exp.3.npz"]
    assert Profile.load(tmp_path / "exp.2").n_images == 30  # still b's
    with pytest.raises(DDPWidgetsError, match="directory"):
        a.save(tmp_path)


@pytest.mark.parametrize("label_key", ["labels", "class", "target", "cls"])
def test_dict_batches_find_their_labels(tiny, label_key):
    """On main, dict batches keyed `labels` or `class` silently became one class "all"."""
    model, x, y = tiny
    prof = Profiler(model, layers=["6"])
    batches = [{"pixel_values": x[i : i + 16], label_key: y[i : i + 16]} for i in range(0, 60, 16)]
    p = prof.profile(batches, progress=False)
    assert p.class_names == ["0", "1", "2", "3"] and p.class_counts.tolist() == [15, 15, 15, 15]


def test_dict_batches_ambiguous_or_missing_keys(tiny):
    model, x, y = tiny
    prof = Profiler(model, layers=["6"])
    with pytest.raises(DataError, match=r"ambiguous.*keys=\(input_key, label_key\)"):
        prof.profile([{"image": x[:4], "label": y[:4], "target": y[:4]}], progress=False)
    with pytest.raises(DataError, match=r"labels under one of.*found keys \['image'\]"):
        prof.profile([{"image": x[:4]}], progress=False)
    with pytest.raises(DataError, match="inputs under one of"):
        prof.profile([{"pic": x[:4], "label": y[:4]}], progress=False)
    p = prof.profile([{"pic": x[:4], "lab": y[:4], "target": y[:4] * 0}], keys=("pic", "lab"), progress=False)
    assert p.class_counts.tolist() == [1, 1, 1, 1]
    unlabelled = prof.profile([{"image": x[:4]}], keys=("image", None), progress=False)
    assert unlabelled.class_names == ["all"]


class FailsOnBatch(nn.Module):
    def __init__(self, inner, bad_batch, exc):
        super().__init__()
        self.inner, self.bad, self.exc, self.calls = inner, bad_batch, exc, 0

    def forward(self, x):
        self.calls += 1
        if self.calls - 1 == self.bad:
            raise self.exc
        return self.inner(x)


def test_model_error_keeps_its_type_and_the_batches_done(tiny):
    """On main, every model error was reported as an input-shape error with a guessed shape, and the batches
    lost."""
    model, x, y = tiny
    prof = Profiler(FailsOnBatch(model, 3, ValueError("the model's own words")), example_input=x[:1])
    prof.model.calls = 0
    with pytest.raises(ValueError, match="the model's own words") as err:
        prof.profile(x, y, batch_size=8, progress=False)
    assert not isinstance(err.value, InputShapeError)
    assert err.value.batch_index == 3 and "batch 3" in "".join(getattr(err.value, "__notes__", []))
    partial = err.value.partial_profile
    assert partial.n_images == 24 and partial.meta["complete"] is False
    assert partial.index_ranges.tolist() == [[0, 24]]


def test_keyboard_interrupt_returns_the_partial_profile(tiny):
    model, x, y = tiny
    prof = Profiler(FailsOnBatch(model, 2, KeyboardInterrupt()), example_input=x[:1])
    prof.model.calls = 0
    with pytest.warns(DDPWidgetsWarning, match="interrupted after 2 batch"):
        partial = prof.profile(x, y, batch_size=10, progress=False)
    assert partial.n_images == 20 and not partial.meta["complete"]


def test_ignore_labels_and_absurd_class_counts(tiny):
    """On main, a label of 255 silently made 256 classes, and 10**9 allocated 67 GiB."""
    model, x, y = tiny
    prof = Profiler(model, layers=["6"])
    y255 = y.clone()
    y255[::5] = 255
    with pytest.raises(DataError, match="ignore_index"):
        prof.profile(x, y255, progress=False)
    p = prof.profile(x, y255, ignore_index=255, progress=False)
    assert p.class_names == ["0", "1", "2", "3"] and p.n_ignored == 12 and p.n_images == 48
    assert p.index_ranges.tolist() == [[0, 60]]  # ignored images are covered, not profiled
    huge = y.clone()
    huge[0] = 10**9
    with pytest.raises(DataError, match="implies 1000000001 classes"):
        prof.profile(x, huge, progress=False)
    neg = y.clone()
    neg[0] = -100
    with pytest.raises(DataError, match="ignore_index=-100"):
        prof.profile(x, neg, progress=False)
    assert prof.profile(x, neg, ignore_index=-100, progress=False).n_ignored == 1
    with pytest.raises(DataError, match="out of range for 3 class names"):
        prof.profile(x, y, class_names=["a", "b", "c"], progress=False)


# -- labels, inputs and parameters ------------------------------------------------------------------
def test_one_hot_labels_and_soft_labels(tiny):
    model, x, y = tiny
    prof = Profiler(model, layers=["6"])
    ref = prof.profile(x, y, progress=False)
    onehot = prof.profile(x, torch.nn.functional.one_hot(y, 4).float(), progress=False)
    _assert_same(ref, onehot, rtol=0)
    soft = torch.full((60, 4), 0.25)
    with pytest.raises(DataError, match="soft labels"):
        prof.profile(x, soft, progress=False)


class PILDataset(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        from PIL import Image

        return Image.new("L", (14, 14)), 0


def test_pil_images_and_channels_last_arrays_say_what_to_do(tiny):
    model, _x, _y = tiny
    prof = Profiler(model)
    pytest.importorskip("PIL")
    with pytest.raises(DataError, match="ToTensor"):
        prof.profile(PILDataset(), progress=False)
    rgb_model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 12 * 12, 2))
    hwc = np.random.default_rng(0).random((5, 14, 14, 3), dtype=np.float32)
    with pytest.raises(InputShapeError, match="channels-last"):
        Profiler(rgb_model).profile(hwc, np.zeros(5, int), progress=False)


def test_parameters_are_named(tiny):
    model, x, y = tiny
    prof = Profiler(model, layers=["6"])
    for kwargs, what in [
        ({"batch_size": 0}, "batch_size"),
        ({"top_n": -1}, "top_n"),
        ({"threshold": 1.5}, "threshold"),
        ({"max_batches": -2}, "max_batches"),
    ]:
        with pytest.raises(InvalidArgumentError, match=what):
            prof.profile(x, y, progress=False, **kwargs)
    with pytest.raises(UnknownOptionError, match="'mean', 'max', 'min'") as err:
        prof.profile(x, y, aggregation="median", progress=False)
    assert isinstance(err.value, ValueError)  # existing `except ValueError` keeps working
    with pytest.raises(UnknownOptionError):
        prof.signals(x, "avg")


def test_nonfinite_signals_never_rank_and_are_counted(tiny):
    model, x, y = tiny
    prof = Profiler(model, layers=["0"])
    bad = x.clone()
    bad[5, 0, 3, 3] = float("nan")
    with pytest.warns(DDPWidgetsWarning, match="NaN/Inf"):
        p = prof.profile(bad, y, top_n=60, progress=False)
    r = p.singular_values("0").size
    assert p.nonfinite_counts("0")[1].tolist() == [1] * r  # image 5 is class 1
    for a in range(r):
        idx, score = p.top_images("0", a)
        assert 5 not in idx.tolist() and np.isfinite(score).all() and idx.size == 59
    clean = prof.profile(x[torch.arange(60) != 5], y[torch.arange(60) != 5], progress=False)
    np.testing.assert_allclose(
        p.class_mean("0"), clean.class_mean("0"), rtol=1e-5, atol=1e-7
    )  # other batches


def test_ties_break_by_the_smaller_dataset_index(tiny):
    model, x, _y = tiny
    prof = Profiler(model, layers=["6"])
    twice = torch.cat([x[:10], x[:10]])  # image i and i + 10 are identical
    ds = TensorDataset(twice, torch.zeros(20, dtype=torch.long))
    torch.manual_seed(0)
    p = prof.profile(DataLoader(ds, batch_size=3, shuffle=True), top_n=4, progress=False)
    single = prof.profile(twice, torch.zeros(20, dtype=torch.long), batch_size=20, top_n=4, progress=False)
    for a in range(4):
        for get in (p.top_images, p.bottom_images):
            idx, _ = get("6", a)
            assert idx.tolist() == sorted(idx.tolist(), key=lambda i: (idx.tolist().index(i) // 2, i))
            assert all(i < 10 for i in idx[::2]) and all(i >= 10 for i in idx[1::2])
            assert (idx[1::2] - idx[::2] == 10).all()
        np.testing.assert_array_equal(p.bottom_images("6", a)[0], single.bottom_images("6", a)[0])


def test_bottom_n_is_the_top_n_of_the_negated_signal(tiny):
    model, x, y = tiny
    prof = Profiler(model)
    p = prof.profile(x, y, batch_size=9, top_n=6, progress=False)
    for n, s in prof.signals(x).items():
        s = s.double().numpy()
        for a in range(s.shape[1]):
            neg = -s[:, a]
            order = np.lexsort((np.arange(60), -neg))[:6]  # largest negated signal, ties by index
            idx, score = p.bottom_images(n, a)
            np.testing.assert_array_equal(idx, order)
            np.testing.assert_allclose(score, s[order, a], rtol=1e-6, atol=1e-7)
            assert (np.diff(score) >= 0).all()
        top_idx, _ = p.top_images(n, 0, n=3)
        assert top_idx.size == 3


def test_top_images_alpha_is_a_deprecated_alias(tiny):
    model, x, y = tiny
    p = Profiler(model, layers=["6"]).profile(x, y, progress=False)
    with pytest.warns(DDPWidgetsDeprecationWarning, match="neuron"):
        old = p.top_images("6", alpha=2)
    np.testing.assert_array_equal(old[0], p.top_images("6", neuron=2)[0])
    with pytest.raises(IndexError, match="out of range"):
        p.top_images("6", 4)
    assert not hasattr(p, "class_influential")


def test_model_dtypes_and_input_forms():
    torch.manual_seed(0)
    x = torch.randn(12, 6)
    y = torch.arange(12) % 3
    f64 = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3)).double()
    p = Profiler(f64).profile(x, y, progress=False)  # float32 inputs are cast to the model's float64
    assert p.n_images == 12
    tokens = nn.Sequential(nn.Embedding(10, 4), nn.Flatten(), nn.Linear(4 * 5, 3))
    ids = torch.randint(0, 10, (12, 5))
    assert Profiler(tokens).profile(ids, y, progress=False).n_images == 12  # integer inputs stay integers

    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(6, 3), nn.Linear(6, 3)

        def forward(self, u, v):
            return self.a(u) + self.b(v)

    two = TwoInputs()
    prof = Profiler(two, example_input=(x[:1], x[:1]))
    batches = [((x[i : i + 4], x[i : i + 4] * 2), y[i : i + 4]) for i in range(0, 12, 4)]
    positional = prof.profile(batches, progress=False)  # a tuple input is the model's positional arguments
    direct = prof.signals((x, 2 * x))
    for name in ("a", "b"):
        np.testing.assert_allclose(
            positional.class_mean(name)[0],
            direct[name][y == 0].double().mean(0).numpy(),
            rtol=1e-6,
            atol=1e-7,
        )
    swapped = prof.profile(batches, forward=lambda m, inputs: m(*reversed(inputs)), progress=False)
    np.testing.assert_allclose(swapped.class_mean("a"), positional.class_mean("a") * 2, rtol=1e-5, atol=1e-6)


def test_a_module_called_twice_warns_or_pools():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 3, 3)

        def forward(self, x):
            return self.conv(x).mean((2, 3)) + self.conv(2 * x).mean((2, 3))

    torch.manual_seed(0)
    model = Twice()
    x, y = torch.randn(8, 1, 6, 6), torch.zeros(8, dtype=torch.long)
    prof = Profiler(model, example_input=x[:1])
    with pytest.warns(DDPWidgetsWarning, match="calls='all'"):
        first = prof.profile(x, y, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pooled = prof.profile(x, y, calls="all", progress=False)
    np.testing.assert_allclose(
        pooled.class_mean("conv"), 1.5 * first.class_mean("conv"), rtol=1e-5, atol=1e-6
    )
    mx = prof.profile(x, y, calls="all", aggregation="max", progress=False)
    with pytest.warns(DDPWidgetsWarning, match="several times"):
        mx_first = prof.profile(x, y, aggregation="max", progress=False)
    assert (mx.class_mean("conv") >= mx_first.class_mean("conv") - 1e-6).all()


def test_a_new_aggregation_is_one_registry_entry(tiny, monkeypatch):
    from ddp_widgets.core import profile as core_profile

    model, x, y = tiny
    med = core_profile.Aggregation(
        "median",
        "median over positions",
        lambda yy, p, b, lin: core_profile.project(yy, p, b, lin).flatten(2).median(-1).values,
        lambda a, na, b, nb: a,
    )
    monkeypatch.setitem(core_profile.AGGREGATIONS, "median", med)
    prof = Profiler(model, layers=["0"])
    p = prof.profile(x, y, aggregation="median", progress=False)
    full = prof.projections(x, "0").flatten(2).median(-1).values.double()
    np.testing.assert_allclose(p.class_mean("0")[0], full[y == 0].mean(0).numpy(), rtol=1e-6, atol=1e-7)
    assert p.meta["aggregation"] == "median"


# -- acceptance: order, batching, shards and merge ----------------------------------------------------
@pytest.fixture(scope="module")
def default_setup():
    torch.set_num_threads(1)
    data = load_default_data()
    prof = Profiler(load_default_model())
    ref = prof.profile(data.images, data.labels, class_names=data.class_names, batch_size=64, progress=False)
    return prof, data, ref


def _assert_close_up_to_near_ties(a: Profile, b: Profile) -> None:
    """Counts exactly; sums to rtol 1e-5; top/bottom-n indices equal except where scores lie within float32
    rounding."""
    _assert_same(a, b, rtol=1e-5, exact_ranks=False)
    for n in a.layers:
        for f_idx, f_score in (("top_index", "top_score"), ("bottom_index", "bottom_score")):
            ia, ib = getattr(a._stats[n], f_idx).numpy(), getattr(b._stats[n], f_idx).numpy()
            sa, sb = getattr(a._stats[n], f_score).numpy(), getattr(b._stats[n], f_score).numpy()
            # one signal is a sum over positions and channels: its rounding scales with the layer's signals
            atol = 1e-5 * np.abs(sb[np.isfinite(sb)]).max()
            np.testing.assert_allclose(sa, sb, rtol=1e-5, atol=atol)
            differ = ia != ib
            if differ.any():  # allowed only for near-ties: the swapped images' scores lie within rounding
                assert (np.abs(sa - sb) <= 1e-5 * np.abs(sb) + atol)[differ].all()


@pytest.mark.slow  # ~4 s: the default data profiled four ways
def test_default_data_is_order_and_batch_invariant(default_setup):
    prof, data, ref = default_setup
    torch.manual_seed(11)
    loader = DataLoader(TensorDataset(data.images, data.labels), batch_size=32, shuffle=True)
    forms = {"shuffled DataLoader": loader}
    for d in forms.values():
        _assert_close_up_to_near_ties(ref, prof.profile(d, class_names=data.class_names, progress=False))
    for bs in (1, 7):
        _assert_close_up_to_near_ties(
            ref,
            prof.profile(
                data.images, data.labels, class_names=data.class_names, batch_size=bs, progress=False
            ),
        )


def test_merge_of_shards_equals_the_whole(default_setup):
    prof, data, ref = default_setup
    shards = [
        prof.profile(
            data.images,
            data.labels,
            class_names=data.class_names,
            batch_size=64,
            shard=(r, 3),
            progress=False,
        )
        for r in range(3)
    ]
    assert [s.index_ranges.tolist() for s in shards] == [[[0, 320]], [[320, 640]], [[640, 1000]]]
    merged = Profile.merge(*shards)
    _assert_same(merged, ref, rtol=1e-12)
    assert merged.index_ranges.tolist() == [[0, 1000]]
    a, b, c = shards
    _assert_same((a + b) + c, a + (b + c), rtol=1e-12)
    _assert_same(c + a + b, b + c + a, rtol=1e-12)
    _assert_same(sum(shards), ref, rtol=1e-12)


def test_merge_refuses_what_does_not_add_up(tiny):
    model, x, y = tiny
    prof = Profiler(model)
    a = prof.profile(x, y, batch_size=10, shard=(0, 2), progress=False)
    b = prof.profile(x, y, batch_size=10, shard=(1, 2), progress=False)
    from ddp_widgets.core.errors import ProfileMergeError

    with pytest.raises(ProfileMergeError, match="overlap: both cover images 0..29"):
        Profile.merge(a, a)
    other = _tiny_model(seed=1)
    c = Profiler(other).profile(x, y, batch_size=10, shard=(1, 2), progress=False)
    with pytest.raises(ProfileMergeError, match="different model weights"):
        a + c
    d = Profiler(model, layers=["0"]).profile(x, y, batch_size=10, shard=(1, 2), progress=False)
    with pytest.raises(ProfileMergeError, match="different layers"):
        a + d
    e = prof.profile(x, y, batch_size=10, shard=(1, 2), aggregation="max", progress=False)
    with pytest.raises(ProfileMergeError, match="aggregation"):
        a + e
    f = prof.profile(x, y, batch_size=10, shard=(1, 2), class_names=list("wxyz"), progress=False)
    with pytest.raises(ProfileMergeError, match="class names"):
        a + f
    assert (a + b).n_images == 60


def test_empty_and_uneven_shards_merge(tiny):
    model, x, y = tiny
    prof = Profiler(model, layers=["6"])
    parts = [prof.profile(x[:20], y[:20], batch_size=8, shard=(r, 4), progress=False) for r in range(4)]
    assert [p.n_images for p in parts] == [0, 8, 8, 4]  # 3 batches over 4 shards: the first is empty
    _assert_same(Profile.merge(parts), prof.profile(x[:20], y[:20], batch_size=8, progress=False), rtol=1e-12)


def test_shuffled_loader_without_seed_cannot_be_sharded(tiny):
    model, x, y = tiny
    loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True)
    with pytest.raises(DataError, match="shuffle=False"):
        Profiler(model).profile(loader, shard=(0, 2), progress=False)


# -- acceptance: save and load ----------------------------------------------------------------------
def test_save_load_round_trip_of_every_field(tiny, tmp_path):
    model, x, y = tiny
    y255 = y.clone()
    y255[7] = 255
    p = Profiler(model).profile(x, y255, class_names=list("abcd"), ignore_index=255, top_n=5, progress=False)
    q = Profile.load(p.save(tmp_path / "p"))
    assert q.layers == p.layers and q.class_names == p.class_names and q.meta == p.meta
    np.testing.assert_array_equal(q.index_ranges, p.index_ranges)
    for n in p.layers:
        np.testing.assert_array_equal(q.singular_values(n), p.singular_values(n))
        for f in (
            "count",
            "nonfinite",
            "sum",
            "sumsq",
            "infl_count",
            "infl_ddp",
            "infl_weight",
            "top_score",
            "top_index",
            "bottom_score",
            "bottom_index",
        ):
            np.testing.assert_array_equal(getattr(q._stats[n], f).numpy(), getattr(p._stats[n], f).numpy())
    assert q.n_ignored == 1 and q.fingerprint == p.fingerprint


def test_load_refuses_truncated_edited_and_foreign_files(tiny, tmp_path):
    import json
    import zipfile

    from ddp_widgets.core.errors import ProfileFileError

    model, x, y = tiny
    path = Profiler(model, layers=["6"]).profile(x, y, progress=False).save(tmp_path / "p")
    raw = path.read_bytes()
    (tmp_path / "cut.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ProfileFileError, match="truncated or corrupt"):
        Profile.load(tmp_path / "cut")
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    arrays = {n[:-4]: np.load(__import__("io").BytesIO(b), allow_pickle=False) for n, b in members.items()}

    def rewrite(name, meta_edit=None, array_edit=None):
        meta = json.loads(str(arrays["meta"]))
        if meta_edit:
            meta_edit(meta)
        out = {k: v for k, v in arrays.items() if k != "meta"}
        if array_edit:
            array_edit(out)
        np.savez(tmp_path / name, meta=np.array(json.dumps(meta)), **out)
        return tmp_path / name

    with pytest.raises(ProfileFileError, match="checksum"):
        Profile.load(rewrite("renamed.npz", lambda m: m.update(class_names=["w", "x", "y", "z"])))
    with pytest.raises(ProfileFileError, match=r"expected int64\(3,\)"):
        Profile.load(rewrite("fewer.npz", lambda m: m.update(class_names=["w", "x", "y"])))
    with pytest.raises(ProfileFileError, match="counts 60 images, the metadata 61"):
        Profile.load(rewrite("count.npz", lambda m: m.update(n_images=61)))
    with pytest.raises(ProfileFileError, match="format 1"):
        Profile.load(rewrite("old.npz", lambda m: m.update(format=1)))
    with pytest.raises(ProfileFileError, match="missing"):
        Profile.load(rewrite("nolayer.npz", array_edit=lambda a: a.pop("layers/0/sum")))
    with pytest.raises(FileNotFoundError, match="no profile file"):
        Profile.load(tmp_path / "absent")
    np.savez(tmp_path / "foreign.npz", x=np.zeros(3))
    with pytest.raises(ProfileFileError, match="not a ddp-widgets profile"):
        Profile.load(tmp_path / "foreign")


def test_the_device_path_of_the_class_sums_equals_the_cpu_path():
    """The one-hot product used on CUDA (no atomics) gives the row-by-row sums; checked here on the CPU."""
    from ddp_widgets.core.accumulator import _class_add

    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 7, (50,), generator=g)
    values = torch.randn(50, 9, generator=g, dtype=torch.float64)
    for dtype, vals in ((torch.float64, values), (torch.int64, (values > 0).long())):
        rows, dense = torch.zeros(10, 9, dtype=dtype), torch.zeros(10, 9, dtype=dtype)
        _class_add(rows, labels, vals, dense=False)
        _class_add(dense, labels, vals, dense=True)
        torch.testing.assert_close(dense, rows, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_half_bfloat16_and_double_models_profile(dtype):
    """Inputs are cast to the model's dtype; the statistics accumulate in float64 whatever it is."""
    import copy

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    x, y = torch.randn(12, 1, 8, 8), torch.arange(12) % 3
    ref = Profiler(model).profile(x, y, progress=False)
    low = Profiler(copy.deepcopy(model).to(dtype)).profile(x, y, progress=False)
    assert low._stats["0"].sum.dtype == torch.float64
    tol = {torch.float16: 1e-2, torch.bfloat16: 5e-2, torch.float64: 1e-5}[dtype]
    for n in ref.layers:
        scale = np.abs(ref.class_mean(n)).max()
        np.testing.assert_allclose(low.class_mean(n), ref.class_mean(n), rtol=0, atol=tol * scale)
