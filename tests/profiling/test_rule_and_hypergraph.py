"""DDP's influential-neuron rule and the class-separation hypergraph on hand-worked cases."""

import json

import numpy as np
import pytest
import torch

from ddp_widgets.core.hypergraph import build_hypergraph, class_neuron_sets, s_components, separation_figures
from ddp_widgets.core.profile import influential


def test_ddp_rule_one_dominant_neuron():
    mask, ddp_w, w = influential(torch.tensor([[10.0, 1.0, 1.0, 1.0]]), 0.1)
    assert mask.tolist() == [[True, False, False, False]]
    assert ddp_w[0, 0].item() == pytest.approx(10 / 13)  # even the first exceeds t: divided by the total
    assert w.sum().item() == pytest.approx(1.0)


def test_ddp_rule_neurons_within_threshold():
    agg = torch.tensor([[1.0, 1.0, 1.0, 17.0]])  # sorted |agg|: 17, 1, 1, 1 -> cumulative shares .85 .9 .95 1
    mask, ddp_w, _ = influential(agg, 0.9)
    assert mask.sum().item() == 3  # 17 and one 1 are within 0.9, plus one more
    assert ddp_w[0, 3].item() == pytest.approx(17 / 18)  # divided by the cumulative sum at the last within t
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0, 90.0]])  # shares .9, .94, .97, .99, 1
    mask, ddp_w, w = influential(x, 0.95)
    assert mask[0].tolist() == [False, False, True, True, True]
    assert ddp_w[0, 4].item() == pytest.approx(90 / 94)
    assert ddp_w[0].sum().item() > 1.0  # DDP weights may exceed 1 in total...
    assert w[0].sum().item() == pytest.approx(1.0)  # ...the normalised ones sum to 1
    assert w[0, 4].item() == pytest.approx(90 / 97)


def test_ddp_rule_signs_and_batch():
    agg = torch.tensor([[-10.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, -10.0]])
    mask, _, _ = influential(agg, 0.1)
    assert mask.tolist() == [[True, False, False, False], [False, False, False, True]]
    with pytest.raises(ValueError, match="threshold"):
        influential(agg, 1.5)
    from ddp_widgets.core.errors import InvalidArgumentError, UnknownOptionError

    with pytest.raises(InvalidArgumentError, match="threshold"):
        influential(agg, -0.1)
    with pytest.raises(UnknownOptionError, match="rank_by"):
        class_neuron_sets(np.ones((2, 3)), np.ones(3), rank_by="size")


def test_disjoint_sets_give_purity_one_and_jaccard_zero():
    sets = [{0}, {1}, {2}, {3}]
    fig = separation_figures(sets)
    assert fig["purity"] == 1.0 and fig["jaccard"] == 0.0 and fig["components_s1"] == 4


def test_identical_sets_give_purity_one_over_c_and_jaccard_one():
    sets = [{0, 1}] * 5
    fig = separation_figures(sets)
    assert fig["purity"] == pytest.approx(1 / 5) and fig["jaccard"] == 1.0 and fig["components_s1"] == 1


def test_class_neuron_sets_candidates():
    means = np.array([[5.0, 0.1, 0.1, 0.0], [0.1, 0.1, 5.0, 0.0], [0.0, 0.0, 0.1, 9.0]])
    sv = np.array([4.0, 3.0, 2.0, 1.0])
    assert class_neuron_sets(means, sv, top_k=None) == [{0}, {2}, {3}]
    # only the top-3 by σ are candidates: class 2's neuron 3 is out, its best candidate is 2
    assert class_neuron_sets(means, sv, top_k=3) == [{0}, {2}, {2}]
    assert class_neuron_sets(means, sv, top_k=None, rank_by="signal", top_n=2)[2] == {3, 2}


def test_hypergraph_and_dual_and_hif():
    hg = build_hypergraph({"L": [{0}, {0, 1}, {1}]}, ["a", "b", "c"])
    assert hg.edges == {"L:0": {"a": 1.0, "b": 1.0}, "L:1": {"b": 1.0, "c": 1.0}}
    assert hg.edge_info["L:1"] == {"layer": "L", "neuron": 1, "alpha": 1}  # alpha: the deprecated name
    dual = hg.dualize()
    assert dual.dual and dual.edges["b"] == {"L:0": 1.0, "L:1": 1.0}
    hif = json.loads(json.dumps(hg.to_hif()))
    assert {(i["edge"], i["node"]) for i in hif["incidences"]} == {
        ("L:0", "a"),
        ("L:0", "b"),
        ("L:1", "b"),
        ("L:1", "c"),
    }
    assert hif["network-type"] == "undirected" and len(hif["nodes"]) == 3


def test_s_components_match_hypernetx():
    edges = {"e1": {"a", "b", "c"}, "e2": {"b", "c", "d"}, "e3": {"d", "e"}, "e4": {"x"}}
    ours = {s: sorted(map(sorted, s_components(edges, s))) for s in (1, 2, 3)}
    hnx = pytest.importorskip("hypernetx")
    H = hnx.Hypergraph({k: sorted(v) for k, v in edges.items()})
    for s in (1, 2, 3):
        theirs = sorted(sorted(c) for c in H.s_components(s=s, edges=True))
        assert ours[s] == theirs, s


def test_hypergraph_html_repr_names_edges():
    hg = build_hypergraph({"conv": [{0}, {0, 1}]}, ["cat", "dog"])
    html = hg._repr_html_()
    assert "conv:1" in html and "2 hyperedges" in html and "cat, dog" in html


def test_centered_class_signals_drop_the_shared_direction():
    from ddp_widgets import Profiler

    model = torch.nn.Sequential(torch.nn.Linear(3, 3, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.diag(torch.tensor([3.0, 2.0, 1.0])))
    # signals = diag(3, 2, 1) x: class 0 -> [5, 3, 0], class 1 -> [5, 0, 1]
    x = torch.tensor([[5 / 3, 3 / 2, 0.0], [5 / 3, 0.0, 1.0]])
    profile = Profiler(model, example_input=x[:1]).profile(x, torch.tensor([0, 1]), progress=False)
    assert profile.hypergraph(threshold=0.1).edges == {"0:0": {"0": 5.0, "1": 5.0}}
    centered = profile.hypergraph(threshold=0.1, center=True)
    assert set(centered.edges) == {"0:1"} and set(centered.edges["0:1"]) == {"0", "1"}
    assert profile.separation(center=True).loc[0, "purity"] == 0.5


def _rule_by_hand(row, t):
    """The DDP rule for one row, written out: sort, cumulative shares, keep those within t plus one."""
    a = np.abs(np.asarray(row, dtype=np.float64))
    order = np.argsort(-a, kind="stable")
    shares = np.cumsum(a[order]) / a.sum()
    within = int((shares <= t).sum())
    kept = order[: min(within + 1, a.size)]
    denom = np.cumsum(a[order])[within - 1] if within > 0 else a.sum()
    mask = np.zeros(a.size, bool)
    mask[kept] = True
    return mask, np.where(mask, a / denom, 0.0), np.where(mask, a / a[kept].sum(), 0.0)


@pytest.mark.parametrize("threshold", [0.0, 0.1, 0.5, 0.99, 1.0])
def test_rule_on_many_neurons_matches_the_hand_written_rule(threshold):
    """Above 64 neurons only the largest are ranked unless they stay within t: both paths give the rule."""
    g = torch.Generator().manual_seed(0)
    agg = torch.randn(6, 300, generator=g, dtype=torch.float64)
    agg[:3, :4] *= 40  # a few dominant neurons in some rows, none in others
    mask, ddp_w, w = influential(agg, threshold)
    for i in range(agg.shape[0]):
        m, d, n = _rule_by_hand(agg[i].numpy(), threshold)
        assert mask[i].numpy().tolist() == m.tolist()
        np.testing.assert_allclose(ddp_w[i].numpy(), d, rtol=1e-12)
        np.testing.assert_allclose(w[i].numpy(), n, rtol=1e-12)
