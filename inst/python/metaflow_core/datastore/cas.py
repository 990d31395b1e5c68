"""The content-addressed store: blobs keyed by the sha1 of their bytes.

A blob file is a 4-byte header (b"MFB" and a codec byte) followed by the
payload. The header keeps the codec with the bytes, so R's own gzip-compressed
RDS bytes and a gzip-compressed pickle can never be confused, and no side file
is needed per blob.
"""

import hashlib
import os
import zlib

from ..exceptions import MetaflowException

MAGIC = b"MFB"

# Chosen by bench/compression.py as the fastest (save + load of five typical
# artifacts, 16 MB pickled, local disk); figures in bench/README.md:
# none 103 ms / 16.0 MB, zlib:1 550 ms / 6.3 MB, gzip:3 723 ms / 5.9 MB, zlib:6 2079 ms / 5.5 MB.
DEFAULT_COMPRESSION = "none"


def parse_compression(spec):
    spec = (spec or DEFAULT_COMPRESSION).strip().lower()
    if spec == "none":
        return ("n", 0)
    name, _, level = spec.partition(":")
    if name not in ("zlib", "gzip"):
        raise MetaflowException(
            "METAFLOW_DATASTORE_COMPRESSION must be none, zlib[:1-9] or gzip[:1-9], "
            "not *%s*." % spec
        )
    try:
        level = int(level or 1)
    except ValueError:
        level = -1
    if not 1 <= level <= 9:
        raise MetaflowException(
            "The compression level in METAFLOW_DATASTORE_COMPRESSION=*%s* must be 1 to 9."
            % spec
        )
    return (name[0], level)


def encode_blob(data, codec, level):
    if codec == "z":
        return MAGIC + b"z" + zlib.compress(data, level)
    if codec == "g":
        import gzip

        return MAGIC + b"g" + gzip.compress(data, compresslevel=level, mtime=0)
    return MAGIC + b"n" + data


def decode_blob(blob):
    if blob[:3] != MAGIC:
        raise MetaflowException("A blob in the datastore is corrupt (bad header).")
    codec, payload = blob[3:4], blob[4:]
    if codec == b"n":
        return payload
    if codec == b"z":
        return zlib.decompress(payload)
    if codec == b"g":
        import gzip

        return gzip.decompress(payload)
    raise MetaflowException("A blob in the datastore has an unknown codec %r." % codec)


def sha1_of(data):
    return hashlib.sha1(data).hexdigest()


class ContentAddressedStore(object):
    def __init__(self, storage, prefix, compression=None):
        self.storage = storage
        self.prefix = prefix
        self.codec, self.level = parse_compression(
            compression or os.environ.get("METAFLOW_DATASTORE_COMPRESSION")
        )

    def key(self, sha):
        return "%s/%s/%s" % (self.prefix, sha[:2], sha)

    def save_blob(self, data, sha=None):
        """Store bytes once; returns their sha1. Existing blobs are not rewritten."""
        sha = sha or sha1_of(data)
        key = self.key(sha)
        if not self.storage.is_file(key):
            self.storage.save_bytes(
                key, encode_blob(data, self.codec, self.level), overwrite=False
            )
        return sha

    def load_blob(self, sha):
        blob = self.storage.load_bytes(self.key(sha))
        if blob is None:
            raise MetaflowException("Blob %s is missing from the datastore." % sha)
        return decode_blob(blob)
