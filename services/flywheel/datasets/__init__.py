"""Ground truth, training splits and their great-expectations gate (docs/domain.md#ground-truth,
docs/domain.md#splits)."""
