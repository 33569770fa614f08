"""Ground truth, training splits and their great-expectations gate (SPEC "Ground truth", "Splits")."""
