"""Offline evaluation with the paper's metrics (docs/domain.md#offline-metrics)."""
