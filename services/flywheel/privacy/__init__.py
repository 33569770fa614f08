"""Private text stays private: the redactor the assistant runs on every intent before anything else sees it."""

from flywheel.privacy.redactor import KINDS, PLACEHOLDERS, Redaction, Redactor, redact

__all__ = ["KINDS", "PLACEHOLDERS", "Redaction", "Redactor", "redact"]
