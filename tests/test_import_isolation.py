"""The one import-isolation test (DESIGN: layers): the core and the zoo do their work without UI packages.

`ddp_widgets.core` (every submodule) and `ddp_widgets.zoo` must never load ipywidgets, traitlets, bqplot,
ipycytoscape, matplotlib or pandas -- not at import, and not while listing layers, decomposing, fitting
spectra, profiling statistics, ablating, mapping or reading out. `import ddp_widgets` itself loads no UI
package either (submodules are attributes imported on first use).
"""

import subprocess
import sys

UI_PACKAGES = ("ipywidgets", "traitlets", "bqplot", "ipycytoscape", "matplotlib", "pandas")

SCRIPT = f"""
import importlib, pkgutil, sys
import torch
import ddp_widgets
assert not [p for p in {UI_PACKAGES!r} if p in sys.modules], "import ddp_widgets loaded a UI package"
import ddp_widgets.core as core
for info in pkgutil.walk_packages(core.__path__, "ddp_widgets.core."):
    importlib.import_module(info.name)
from ddp_widgets.core import decompose, list_layers, operator_singular_values, spectrum_from_values
from ddp_widgets.core.ablation import ablated_weight, compare_weights
from ddp_widgets.core.maps import neuron_maps
from ddp_widgets.core.profile import SignalSpec
from ddp_widgets.core.readout import class_readout
import ddp_widgets.zoo as zoo

m = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 3))
x, y = torch.randn(5, 1, 8, 8), torch.tensor([0, 1, 2, 0, 1])
layers = list_layers(m, x[:1])
spectrum_from_values(decompose(m[0], values_only=True), 9, 4)
operator_singular_values(m[0], 8)
svd = decompose(m[2])
stats = compare_weights(m, [(x, y)], {{"a": {{m[2].weight: ablated_weight(m[2].weight, svd, [0])}}}})
spec = SignalSpec(decompose(m[0]).projection(), m[0].bias.detach(), False)
maps = neuron_maps(m, m[0], spec, 0, x)
readout = class_readout(m, m[2], svd, x[:1])
zoo.load_default_data(n=10)
bad = [p for p in {UI_PACKAGES!r} if p in sys.modules]
assert not bad, bad
print("OK", len(layers), tuple(maps.shape), tuple(readout.shape), int(stats["a"].count.sum()))
"""


def test_core_and_zoo_work_without_ui_packages():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "OK 2 (5, 8, 8) (3, 3) 5" in proc.stdout
