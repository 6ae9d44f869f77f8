"""dltour: reproduce, extend and check nine classic deep-learning studies.

From Python (a notebook): ``dltour.run(...)``, ``dltour.reproduce(...)`` and
``dltour.results(out)``, see :mod:`dltour.api`.
"""

__version__ = "0.1.0"
__all__ = ["DltourError", "run", "reproduce", "results", "__version__"]


from dltour.errors import DltourError  # noqa: E402  (re-exported as dltour.DltourError)


def __getattr__(name: str):  # the API is imported on first use: `import dltour` stays cheap
    if name in ("run", "reproduce", "results"):
        from dltour import api

        return getattr(api, name)
    raise AttributeError(f"module 'dltour' has no attribute {name!r}")
