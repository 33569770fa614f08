"""Domain errors: library code raises these, the command line turns them into `Error: <message>` and an exit code.

Library code never raises `SystemExit` or prints: it cannot know whether it runs under the CLI, an Airflow task or a
test. Each class carries the exit code the CLI uses, so the mapping lives in one place (`flywheel.cli.common`).
"""

from __future__ import annotations


class FlywheelError(Exception):
    """Base of every error the platform reports to an operator (the message is meant to be read as is)."""

    exit_code = 1


class UsageError(FlywheelError):
    """The input is wrong (a bad file, a bad parameter): retrying the same call cannot help."""

    exit_code = 2


class NotFound(FlywheelError):
    """A named thing (model, run, split, file) does not exist."""

    exit_code = 2


class GateFailed(FlywheelError):
    """A quality gate (great-expectations, promotion) refused its input; a finding, not a transient error."""

    exit_code = 3


class ServiceUnavailable(FlywheelError):
    """A service the call needs (Postgres, the broker, a model endpoint) cannot be reached."""

    exit_code = 3


class Skipped(FlywheelError):
    """A pipeline step had nothing to do (e.g. the promotion gate kept the current model); orchestrators show the
    step as skipped, the CLI exits with 0."""

    exit_code = 0
