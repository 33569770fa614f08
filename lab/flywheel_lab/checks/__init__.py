"""Checks of the platform against the simulator's hidden truth (read only here, never by a stage)."""
