"""Experiments that drive the whole platform on simulated data (the paper's RQ2 low-data table)."""
