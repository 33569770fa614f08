"""flywheel: the data and feedback platform for teacher -> student distillation of tool-chaining LLMs."""

__version__ = "0.1.0"
