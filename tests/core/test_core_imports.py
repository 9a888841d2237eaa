"""ddp_widgets.core imports no UI package (DESIGN: the core is usable from scripts and CI jobs)."""

import subprocess
import sys

UI_PACKAGES = ("ipywidgets", "traitlets", "bqplot", "ipycytoscape", "matplotlib", "pandas")


def test_core_imports_no_ui_package():
    code = (
        "import sys, ddp_widgets.core\n"
        "import ddp_widgets.core.operator, ddp_widgets.core.baselines\n"
        f"bad = [m for m in {UI_PACKAGES!r} if m in sys.modules]\n"
        "print('LOADED', bad)\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "LOADED []" in proc.stdout


def test_core_can_do_its_work_without_ui_packages():
    """Not just the import: listing layers and computing spectra must not pull a UI package in either."""
    code = (
        "import sys, torch\n"
        "from ddp_widgets.core import list_layers, decompose, spectrum_from_values, operator_singular_values\n"
        "m = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 2))\n"
        "layers = list_layers(m, torch.zeros(1, 3, 8, 8))\n"
        "s = decompose(m[0], values_only=True)\n"
        "spectrum_from_values(s, 27, 4)\n"
        "operator_singular_values(m[0], 8)\n"
        f"bad = [p for p in {UI_PACKAGES!r} if p in sys.modules]\n"
        "assert not bad, bad\n"
        "print('OK', len(layers))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "OK 2" in proc.stdout
