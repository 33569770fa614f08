"""The referee: the known-answer simulator (world, teacher stand-in, users), the demo, known-answer checks, benches
and experiments. It depends on the product (`flywheel`); the product never imports it (import-linter contract
"product-apart-from-referee" in pyproject.toml)."""
