"""What every entry point shares: user mistakes end as one line on stderr and exit code 2."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable

from absl import logging

from feature_columns.errors import UserError


def run_reporting_user_errors(action: Callable[[], object]) -> None:
    """Run `action`; a UserError (bad spec, data or flags) prints `error: ...` and exits 2, with no stack trace."""
    logging.set_verbosity(logging.WARNING)
    try:
        action()
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


def main_running(action: Callable[[], object]) -> Callable[[list], None]:
    """An absl `main` that runs `action` with `run_reporting_user_errors` (the entry points' shared main)."""

    def main(argv: list) -> None:
        if len(argv) > 1:
            from absl import app

            raise app.UsageError(f"unexpected arguments: {argv[1:]}")
        run_reporting_user_errors(action)

    return main


def from_flags(config_class, values, **overrides):
    """A config dataclass whose fields are read from the flags of the same names (`overrides` win)."""
    names = {f.name for f in dataclasses.fields(config_class)}
    known = {name: getattr(values, name) for name in names if name in values and name not in overrides}
    return config_class(**known, **overrides)


def console_script(define_flags: Callable[[], None], main: Callable[[list], None]) -> Callable[[], None]:
    """The function a console script (or `python -m`) calls: define the flags, then run `main` under absl."""

    def run() -> None:
        from absl import app

        define_flags()
        app.run(main)

    return run


def define_study_flags(study: str, quick: str) -> None:
    """The flags the ablation and sensitivity drivers share beside the training flags."""
    from absl import flags

    flags.DEFINE_boolean("quick", False, f"Smoke mode for tests: {quick}")
    flags.DEFINE_string("results_dir", None, f"Where {study}'s tables and plots go (default results/<dataset>)")
    flags.DEFINE_string("runs_dir", None, f"Model dirs of the individual runs (default runs/{study}/<dataset>)")
