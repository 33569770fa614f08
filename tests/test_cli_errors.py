"""Domain errors end in `Error: <message>` on stderr with the error's exit code, in one place for every command."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from flywheel.cli.main import app
from flywheel.errors import FlywheelError, GateFailed, NotFound, ServiceUnavailable, Skipped, UsageError
from flywheel.inference.cli_helpers import read_intents


def test_exit_codes_of_the_hierarchy() -> None:
    assert all(issubclass(c, FlywheelError) for c in (UsageError, NotFound, GateFailed, ServiceUnavailable, Skipped))
    assert (UsageError.exit_code, NotFound.exit_code, GateFailed.exit_code, ServiceUnavailable.exit_code,
            Skipped.exit_code) == (2, 2, 3, 3, 0)


def test_read_intents_raises_domain_errors_not_system_exit(tmp_path) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        read_intents(tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"intent": "warmer"}\n{"intent": \n')
    with pytest.raises(UsageError, match=r"bad.jsonl:2: not valid JSON"):
        read_intents(bad)
    bad.write_text('{"text": "warmer"}\n')
    with pytest.raises(UsageError, match="no string 'intent'"):
        read_intents(bad)
    ok = tmp_path / "ok.txt"
    ok.write_text('golden hour\n\n{"intent": "warmer"}\n')
    assert read_intents(ok) == ["golden hour", "warmer"]


def test_cli_maps_a_domain_error_to_message_and_exit_code(settings, engine) -> None:
    """`bench inference` without --model and without a production model: NotFound from the library."""
    env = {"FLYWHEEL_DATABASE_URL": settings.db_url(), "FLYWHEEL_ARTIFACTS_DIR": str(settings.artifacts_dir)}
    r = CliRunner().invoke(app, ["bench", "inference", "--requests", "1"], env=env)
    assert r.exit_code == NotFound.exit_code, r.output
    assert r.stderr.strip() == "Error: no production model yet: pass --model"
    assert "Traceback" not in r.output
