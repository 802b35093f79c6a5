"""The one error type commands raise: a sentence for the user and an exit status."""

from __future__ import annotations


class CliError(Exception):
    """Printed as `error: <message>` on stderr; the process exits with `exit_code`."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class UsageError(CliError):
    """The command line itself is wrong (exit status 2, like click and kubectl)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=2)
