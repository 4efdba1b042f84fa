"""User-facing errors: a bad spec or bad data, reported without a stack trace by the CLIs."""


class UserError(ValueError):
    """A mistake in the user's input (spec, data or flags); the message says what and where."""


class SpecError(UserError):
    """The feature spec is invalid: the message names the field and what was expected."""


class DataError(UserError):
    """The data does not match the spec: the message names the column, row or value."""


def data_row(row: int) -> str:
    """How messages name a data row: its 0-based position and, for a CSV with a header line, its file line."""
    return f"data row {row} (line {row + 2} of a CSV file)"


def data_rows(rows) -> str:
    """`data_row` for a few rows: `data rows [3, 9] (lines [5, 11] of a CSV file)`."""
    rows = [int(r) for r in rows]
    return f"data rows {rows} (lines {[r + 2 for r in rows]} of a CSV file)"


def first_line(error: BaseException, limit: int = 200) -> str:
    """The first non-empty line of an error's message (its type's name when it has none), at most `limit`
    characters: how a long library error is quoted inside one `error:` or log line."""
    return next((line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__)[:limit]
