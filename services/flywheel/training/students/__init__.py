"""The student families by name: a training config's and a model card's ``backend`` says which one trains, loads and
serves a model. Everything above (training, warm start, evaluation, the predictor) goes through :func:`student_family`.

Adding a family: its config class in the ``TrainConfig`` union (training/config.py), one module here implementing
:class:`Student`, and its line in ``FAMILIES`` (training/README.md, "Adding a student family").
"""

from __future__ import annotations

from flywheel.training.students.base import Encoded, Prediction, Student
from flywheel.training.students.encoder import EncoderStudent
from flywheel.training.students.hf import CausalStudent, Seq2SeqStudent
from flywheel.training.students.ngram import NgramStudent

__all__ = ["FAMILIES", "Encoded", "Prediction", "Student", "student_family"]

FAMILIES: dict[str, type[Student]] = {s.family: s for s in (NgramStudent, EncoderStudent, Seq2SeqStudent,
                                                                 CausalStudent)}


def student_family(name: str) -> type[Student]:
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown student family {name!r} (known: {', '.join(FAMILIES)})") from None
