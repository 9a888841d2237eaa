"""Tests of the SVD-neuron explanations (maps, ablation, readout, truncation).

A package so that its conftest does not clash with tests/widgets/conftest.py.
"""
