"""`make demo`: the platform's main job on embedded defaults over several simulated days, then cleanup.

up -> migrate -> day 0: the app's traffic with the teacher through Kafka -> ingest -> for each day k: the nightly DAG
through Airflow (ground truth, GX gates, split, student training, evaluation, promotion) -> day k's traffic through the
assistant's A/B router (teacher vs the production student), dated day k by a simulated clock -> ingest. Finally the
A/B report per day, checked against the simulator's hidden truth.
"""

from flywheel_lab.demo.days import SimulatedClock, run_demo
from flywheel_lab.demo.steps import DayResult, DemoOptions, DemoResult

__all__ = ["DayResult", "DemoOptions", "DemoResult", "SimulatedClock", "run_demo"]
