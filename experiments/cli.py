"""What every entry point shares: user mistakes end as one line on stderr and exit code 2.

A mistake is a bad flag, spec or data file (a `UserError`), or a machine that cannot take the
run's output (a full disk, a read-only file system, no permission): each prints one
`error: ...` line and exits with status 2, never a stack trace.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import sys
from collections.abc import Callable

from absl import logging

from feature_columns.errors import UserError
from wide_deep.core.startup import quiet_tensorflow_import

# OpenMP threads (LightGBM, scikit-learn) that spin while waiting for work steal the cores from
# every other busy thread: on 2 shared cores a LightGBM fit measured 2-10x slower, up to 80x inside
# a run whose TensorFlow threads were also busy. Sleeping waits cost nothing measurable when idle.
# Set before any OpenMP runtime starts (it reads the variable once); `make` exports it as well.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
quiet_tensorflow_import()  # wherever a command first imports TensorFlow

ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT}
# TensorFlow reports file-system failures in its own errors, without an errno: their message is all there is
ENVIRONMENT_MESSAGES = ("No space left on device", "Read-only file system", "Permission denied", "Disk quota exceeded")


def environment_problem(error: BaseException) -> str | None:
    """One line describing a file-system failure of the machine (not a bug), or None."""
    if isinstance(error, OSError) and error.errno in ENVIRONMENT_ERRNOS:
        where = f": {error.filename}" if error.filename else ""
        return f"{error.strerror}{where}"
    for line in str(error).splitlines():
        if any(message in line for message in ENVIRONMENT_MESSAGES):
            return line.strip()[:300]
    return None


def run_reporting_user_errors(action: Callable[[], object]) -> None:
    """Run `action`; a user mistake or a file-system failure prints `error: ...` and exits 2, with no stack trace."""
    logging.set_verbosity(logging.WARNING)
    try:
        action()
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except Exception as err:
        problem = environment_problem(err)
        if problem is None:
            raise
        print(
            f"error: {problem} (what was written before is intact; free space or fix the permissions and rerun)",
            file=sys.stderr,
        )
        sys.exit(2)


def parse_flags(argv: list[str]) -> list[str]:
    """absl's flag parsing, with a bad flag reported like every other mistake (one line, exit code 2)."""
    from absl import flags

    try:
        return flags.FLAGS(argv)
    except flags.Error as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


def run_main(main: Callable[[list], None]) -> None:
    """`absl.app.run` with `parse_flags`; `--help` lists the command's flags also when it runs as a console script
    (absl lists the flags of the module named by argv[0], which is then the script, not the command's module)."""
    from absl import app, flags

    for module, defined in flags.FLAGS.flags_by_module_dict().items():
        if module.startswith("experiments.") and module != sys.argv[0]:
            for flag in defined:
                flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)
    app.run(main, flags_parser=parse_flags)


def main_running(action: Callable[[], object]) -> Callable[[list], None]:
    """An absl `main` that runs `action` with `run_reporting_user_errors` (the entry points' shared main)."""

    def main(argv: list) -> None:
        if len(argv) > 1:  # a mistake like any other: one line and exit code 2, not the whole help
            print(
                f"error: unexpected argument(s) {argv[1:]}: every setting is a flag (--name=value); see --help",
                file=sys.stderr,
            )
            sys.exit(2)
        run_reporting_user_errors(action)

    return main


def command(action: Callable[[], object]) -> tuple[Callable[[list], None], Callable[[], None]]:
    """(the absl `main` running `action`, the console script's entry point; `python -m` runs the same)."""
    main = main_running(action)
    return main, lambda: run_main(main)


def from_flags(config_class, values, **overrides):
    """A config dataclass whose fields are read from the flags of the same names (`overrides` win)."""
    names = {f.name for f in dataclasses.fields(config_class)}
    known = {name: getattr(values, name) for name in names if name in values and name not in overrides}
    return config_class(**known, **overrides)


def console_script(define_flags: Callable[[], None], main: Callable[[list], None]) -> Callable[[], None]:
    """The function a console script (or `python -m`) calls: define the flags, then run `main` under absl."""

    def run() -> None:
        define_flags()
        run_main(main)

    return run


def drop_retracing_warnings() -> None:
    """The studies build a fresh model, and so a fresh `tf.function`, for every run; TensorFlow counts their first
    traces together and warns of "excessive retracing", though nothing is retraced. Drop that one message."""
    import logging as python_logging

    python_logging.getLogger("tensorflow").addFilter(
        lambda record: "triggered tf.function retracing" not in record.getMessage()
    )


def define_study_flags(study: str, quick: str) -> None:
    """The flags the ablation and sensitivity drivers share beside the training flags."""
    from absl import flags

    flags.DEFINE_boolean("quick", False, f"Smoke mode for tests: {quick}")
    flags.DEFINE_string("results_dir", None, f"Where {study}'s tables and plots go (default results/<dataset>)")
    flags.DEFINE_string("runs_dir", None, f"Model dirs of the individual runs (default runs/{study}/<dataset>)")
