"""Student inference: load a trained checkpoint and generate schema-checked tool outputs."""
