"""User-facing errors: the CLI prints these as one line (no traceback unless --debug)."""


class EmotagError(Exception):
    """A problem the user can fix (bad input, missing file, wrong option). Exit code 2."""

    exit_code = 2


class MissingBackendError(EmotagError):
    """An optional backend or weight file is not installed; the message says what to install."""

    exit_code = 3
