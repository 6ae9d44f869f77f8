"""dltour: reproduce, extend and check nine classic deep-learning studies.

From Python (a notebook): ``dltour.run(...)``, ``dltour.reproduce(...)`` and
``dltour.results(out)``, see :mod:`dltour.api`.
"""

from dltour._version import __version__
from dltour.errors import DltourError

__all__ = ["DltourError", "run", "reproduce", "results", "__version__"]


def __getattr__(name: str):  # the API is imported on first use: `import dltour` stays cheap
    if name in ("run", "reproduce", "results"):
        from dltour import api

        return getattr(api, name)
    raise AttributeError(f"module 'dltour' has no attribute {name!r}")
