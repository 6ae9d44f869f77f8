"""Data sources: one module per dataset family (download, cache, verify, split; no training, no models).

``source.py`` holds the mechanism every family uses: the manifest, the resolution order
(explicit path -> verified cache -> download) and safe archive extraction.

Importing the package registers every family's datasets in ``MANIFEST`` (``dltour data list``
needs no study); the family modules import NumPy and pydantic, never torch, at import time.
Networks the demo pack ships are trained by ``scripts/build_demo_pack.py``; the data layer only
reads their sha256-pinned weights (state dicts) and never imports ``dltour.models``.
"""

from dltour.data.source import (
    DataUnavailable, DatasetSpec, cache_dir, fetch, register_dataset, safe_extract, verify, MANIFEST,
)

# the dataset families: importing each registers its DatasetSpecs
from dltour.data import airline, corpora, glove, images, imdb, mnist, tinyimagenet  # noqa: E402,F401

#: the modules that register datasets (a test checks that no other data module does)
FAMILIES = (airline, corpora, glove, images, imdb, mnist, tinyimagenet)

__all__ = ["DataUnavailable", "DatasetSpec", "cache_dir", "fetch", "register_dataset", "safe_extract",
           "verify", "MANIFEST", "FAMILIES"]
