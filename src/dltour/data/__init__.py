"""Data sources: one module per dataset family (download, cache, verify, split; no training).

``source.py`` holds the mechanism every family uses: the manifest, the resolution order
(explicit path -> verified cache -> download) and safe archive extraction.
"""

from dltour.data.source import (
    DataUnavailable, DatasetSpec, cache_dir, fetch, register_dataset, safe_extract, verify, MANIFEST,
)

__all__ = ["DataUnavailable", "DatasetSpec", "cache_dir", "fetch", "register_dataset", "safe_extract",
           "verify", "MANIFEST"]
