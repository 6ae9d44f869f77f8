"""dltour: reproduce, extend and check nine classic deep-learning studies."""

__version__ = "0.1.0"


class DltourError(Exception):
    """An error a user can fix; the CLI prints its message on one line and exits with code 2."""
