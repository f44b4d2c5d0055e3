"""The one exception type users see: a message, never a traceback."""


class UserError(Exception):
    """A problem the user can fix (bad path, unknown domain, wrong config).

    The CLIs print ``error: <message>`` on one line and exit with status 2.
    """
