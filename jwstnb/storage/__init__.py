"""Files by storage key, on any fsspec store, and FITS that reads only what it needs.

``Storage("s3://bucket/prefix")`` (or ``file:///...``, ``memory://...``, any fsspec URL), a
mapping of key prefixes to URLs (mounts: the longest matching prefix picks one), or
``Storage()`` (the default mount plus the config file's mounts, :mod:`jwstnb.config`)
resolves relative storage keys (:mod:`jwstnb.keys`, checked before any I/O; on local disks
also after resolving symbolic links). Records read from the public JWST bucket when no mount
holds their key. FITS files open lazily through small-block fsspec file objects, so a cutout
reads the headers it passes and the rows it needs, not the whole file (s3fs's default 50 MiB
read-ahead would turn a 100x100 cutout into a 50 MB download); compressed files and pictures
inflate only up to set limits. Unreadable or malformed files raise
:class:`jwstnb.errors.FitsError` naming the key and the reason; back-end failures raise
:class:`jwstnb.errors.StorageError` without secrets. Thumbnails are drawn by
:mod:`jwstnb.imaging` and cached once per file version.
"""

from __future__ import annotations

from jwstnb.errors import StorageFileNotFound, StorageNotConfigured
from jwstnb.imaging import STRETCHES, celestial_wcs
from jwstnb.storage._fits import FITS_EXTENSIONS, Cutout
from jwstnb.storage._inflate import MAX_INFLATE_BYTES
from jwstnb.storage._mounts import (
    DEFAULT_BLOCK_SIZE,
    DEFAULT_CACHE_TYPE,
    PUBLIC_BUCKET_URL,
    RANGE_CACHE,
)
from jwstnb.storage._pictures import IMAGE_EXTENSIONS, MAX_IMAGE_PIXELS
from jwstnb.storage._storage import Storage, StorageRecipe, register_service_storage

__all__ = [
    "DEFAULT_BLOCK_SIZE",
    "DEFAULT_CACHE_TYPE",
    "FITS_EXTENSIONS",
    "IMAGE_EXTENSIONS",
    "MAX_IMAGE_PIXELS",
    "MAX_INFLATE_BYTES",
    "PUBLIC_BUCKET_URL",
    "RANGE_CACHE",
    "STRETCHES",
    "Cutout",
    "Storage",
    "StorageFileNotFound",
    "StorageNotConfigured",
    "StorageRecipe",
    "celestial_wcs",
    "register_service_storage",
]

# The public classes are named by this module (in pickles, reprs and the API reference), so
# which file inside the package holds them stays an internal detail.
for _public in (Cutout, Storage, StorageRecipe):
    _public.__module__ = __name__
del _public
