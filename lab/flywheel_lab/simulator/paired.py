"""The hidden truth of the online metric per arm, unpaired and paired.

Unpaired, an arm's true rate is the mean export probability of its projects; the ratio of two arms' rates then
compares two different crowds (other users, other intents), and one lucky group moves it by a few percent. Paired,
each project also carries the teacher stand-in's expected export probability for the same intents and the same user
(:func:`flywheel_lab.simulator.plan.teacher_export_probability`), so an arm's ``paired_ratio`` is its true rate over
the teacher's on its own projects: 1.0 for the teacher arm in expectation, and the student's real standing for the
student arm. Both are split into all, seen and new (never-seen intent) projects.
"""

from __future__ import annotations

from flywheel_lab.simulator.plan import ProjectOutcome

SUBSETS = ("all", "seen", "new")


def _stats(outcomes: list[ProjectOutcome]) -> dict[str, float]:
    n = len(outcomes)
    true_rate = sum(o.p_export for o in outcomes) / n
    teacher_rate = sum(o.p_export_teacher for o in outcomes) / n
    return {"n": n, "true_rate": true_rate, "teacher_rate": teacher_rate,
            "paired_ratio": true_rate / teacher_rate if teacher_rate else 0.0}


def _by_arm(outcomes: list[ProjectOutcome]) -> dict[str, list[ProjectOutcome]]:
    acc: dict[str, list[ProjectOutcome]] = {}
    for o in outcomes:
        if o.arm is not None:
            acc.setdefault(o.arm, []).append(o)
    return dict(sorted(acc.items()))


def truth_by_arm(outcomes: list[ProjectOutcome]) -> dict[str, dict[str, float]]:
    """Per arm over all its projects: ``projects``, ``true_rate`` (mean export probability), ``teacher_rate``
    (mean teacher counterfactual) and ``paired_ratio``."""
    out = {}
    for arm, os in _by_arm(outcomes).items():
        st = _stats(os)
        out[arm] = {"projects": st["n"], "true_rate": st["true_rate"], "teacher_rate": st["teacher_rate"],
                    "paired_ratio": st["paired_ratio"]}
    return out


def paired_by_arm(outcomes: list[ProjectOutcome]) -> dict[str, dict[str, dict[str, float]]]:
    """Per arm and subset (all / seen / new; a subset without projects is left out): ``n``, ``true_rate``,
    ``teacher_rate``, ``paired_ratio``."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for arm, os in _by_arm(outcomes).items():
        parts = {"all": os, "seen": [o for o in os if not o.novel], "new": [o for o in os if o.novel]}
        out[arm] = {name: _stats(part) for name, part in parts.items() if part}
    return out
