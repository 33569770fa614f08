"""Experiments that decide (docs/domain.md#experiments-that-decide): always-valid inference on the student/teacher
completion ratio with the user as the unit (:mod:`.sequential`), a pre-registered decision rule with guardrails
(:mod:`.rule`), what the student saves (:mod:`.savings`), the figures read from the database (:mod:`.data`) and the
decision that ramps the student up or rolls it back as a new phase of the experiment (:mod:`.decide`)."""
