"""User-facing errors: a bad spec or bad data, reported without a stack trace by the CLIs."""


class UserError(ValueError):
    """A mistake in the user's input (spec, data or flags); the message says what and where."""


class SpecError(UserError):
    """The feature spec is invalid: the message names the field and what was expected."""


class DataError(UserError):
    """The data does not match the spec: the message names the column, row or value."""
