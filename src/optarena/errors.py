"""The one exception type for user mistakes: its message says what is wrong and how to fix it."""


class OptArenaError(Exception):
    """A user mistake (bad option, mismatched model and data, missing dataset, corrupt file)."""
