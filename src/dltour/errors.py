"""The one exception type a user sees: imported by every layer, importing nothing of dltour's."""


class DltourError(Exception):
    """An error a user can fix; the CLI prints its message on one line and exits with code 2."""
