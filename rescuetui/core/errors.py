"""The one exception type whose message is meant for the operator."""

from __future__ import annotations


class RescueError(Exception):
    """An error the operator can act on.

    The message is a full sentence that names the device, file or command involved and says what
    to do next. The CLI prints it as it is; no traceback reaches the operator.
    """

    status = 1  # the command line's exit status for this error


class UnsafeRefusal(RescueError):
    """rescuetui refuses to do something because it could destroy what it should save."""

    status = 6
