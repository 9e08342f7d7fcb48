"""Synthetic cerebellopontine-angle phantom with analytic ground truth."""
