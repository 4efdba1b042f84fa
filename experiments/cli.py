"""What every entry point shares: user mistakes end as one line on stderr and exit code 2."""
from __future__ import annotations

import sys
from typing import Callable

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
