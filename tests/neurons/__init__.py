"""Tests of the SVD-neuron explanations (maps, ablation, readout, truncation); a package so its conftest does not clash with tests/widgets/conftest.py."""
