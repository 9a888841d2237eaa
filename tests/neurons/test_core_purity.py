"""The neuron core (ablation, maps, readout) does its work without any UI package, pandas included."""

import subprocess
import sys

UI_PACKAGES = ("ipywidgets", "traitlets", "bqplot", "ipycytoscape", "matplotlib", "pandas")


def test_neuron_core_runs_without_ui_packages():
    code = (
        "import sys, torch\n"
        "from ddp_widgets.core import decompose\n"
        "from ddp_widgets.core.ablation import ablated_weight, compare_weights\n"
        "from ddp_widgets.core.maps import neuron_maps\n"
        "from ddp_widgets.core.profile import SignalSpec\n"
        "from ddp_widgets.core.readout import class_readout\n"
        "m = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 3))\n"
        "x, y = torch.randn(5, 1, 8, 8), torch.tensor([0, 1, 2, 0, 1])\n"
        "svd = decompose(m[2])\n"
        "stats = compare_weights(m, [(x, y)], {'a': {m[2].weight: ablated_weight(m[2].weight, svd, [0])}})\n"
        "spec = SignalSpec(decompose(m[0]).projection(), m[0].bias.detach(), False)\n"
        "maps = neuron_maps(m, m[0], spec, 0, x)\n"
        "r = class_readout(m, m[2], svd, x[:1])\n"
        f"bad = [p for p in {UI_PACKAGES!r} if p in sys.modules]\n"
        "assert not bad, bad\n"
        "print('OK', tuple(maps.shape), tuple(r.shape), int(stats['a'].count.sum()))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "OK (5, 8, 8) (3, 3) 5" in proc.stdout
