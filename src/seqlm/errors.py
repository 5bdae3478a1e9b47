"""One exception type for every problem a user can fix; the CLI turns it into one line + exit 2."""


class SeqlmError(Exception):
    """A user-facing error: bad input, missing data, corrupt file. The message is one line."""
