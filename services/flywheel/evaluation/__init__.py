"""Offline evaluation with the paper's metrics (SPEC "Offline metrics")."""
