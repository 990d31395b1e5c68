"""The content-addressed store: blobs keyed by the sha1 of their bytes.

A blob file is a 4-byte header (b"MFB" and a codec byte) followed by the
payload. The header keeps the codec with the bytes, so R's own gzip-compressed
RDS bytes and a gzip-compressed pickle can never be confused, and no side file
is needed per blob.

The name is also the check: every read hashes what it got against the name
and a mismatch is an error, never a value. A write whose blob already exists
keeps the stored file only if it is intact, so a damaged file can't be reused
by a later run that happens to produce the same bytes. Hashing and copying
stream in chunks: no step holds a second copy of an artifact's bytes.
"""

import hashlib
import os
import zlib

from ..exceptions import MetaflowDataCorrupt, MetaflowDataMissing, MetaflowException

MAGIC = b"MFB"
HEADER_LEN = 4
# Read and hash in pieces of this size: large enough that hashing runs at full
# speed, small enough that memory doesn't grow with the blob.
CHUNK = 1 << 20

# Chosen by bench/compression.py as the fastest (save + load of five typical
# artifacts, 16 MB pickled, local disk); figures in bench/README.md:
# none 103 ms / 16.0 MB, zlib:1 550 ms / 6.3 MB, gzip:3 723 ms / 5.9 MB, zlib:6 2079 ms / 5.5 MB.
DEFAULT_COMPRESSION = "none"

# zlib's window bits for each codec: a zlib stream, or a gzip one.
_WBITS = {b"z": 15, b"g": 31}


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


def _compressor(codec, level):
    if codec == "z":
        return zlib.compressobj(level)
    # gzip's own module would hold the whole payload; a gzip-framed zlib stream
    # with mtime 0 gives the same bytes for the same data.
    return zlib.compressobj(level, zlib.DEFLATED, 31)


def encode_blob(data, codec, level):
    """The blob file of ``data`` as a list of chunks (header, payload): the
    payload is not copied to prepend the header."""
    if codec == "n":
        return [MAGIC + b"n", data]
    compressor = _compressor(codec, level)
    return [MAGIC + codec.encode(), compressor.compress(data), compressor.flush()]


def sha1_of(data):
    return hashlib.sha1(data).hexdigest()


def _payload_chunks(f, codec, where):
    """The payload of an open blob file (positioned after its header), in chunks."""
    if codec == b"n":
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                return
            yield chunk
    if codec not in _WBITS:
        raise MetaflowDataCorrupt("%s has an unknown codec %r." % (where, codec))
    inflater = zlib.decompressobj(_WBITS[codec])
    try:
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                break
            yield inflater.decompress(chunk)
        yield inflater.flush()
    except zlib.error as err:
        raise MetaflowDataCorrupt("%s is damaged: its compressed data can't be read (%s)."
                                  % (where, err))
    if not inflater.eof:
        raise MetaflowDataCorrupt("%s is damaged: its compressed data is cut short." % where)


def _read_header(f, where):
    header = f.read(HEADER_LEN)
    if len(header) < HEADER_LEN or header[:3] != MAGIC:
        raise MetaflowDataCorrupt("%s is damaged: it has no metaflow blob header." % where)
    return header[3:4]


def hash_blob_file(f, where):
    """The sha1 of the payload of an open blob file, streamed."""
    codec = _read_header(f, where)
    digest = hashlib.sha1()
    for chunk in _payload_chunks(f, codec, where):
        digest.update(chunk)
    return digest.hexdigest()


class ContentAddressedStore(object):
    def __init__(self, storage, prefix, compression=None):
        self.storage = storage
        self.prefix = prefix
        self.codec, self.level = parse_compression(
            compression or os.environ.get("METAFLOW_DATASTORE_COMPRESSION")
        )

    def key(self, sha):
        return "%s/%s/%s" % (self.prefix, sha[:2], sha)

    def describe(self, sha):
        """The blob's file as a user can find it (a path, or a storage key)."""
        path = getattr(self.storage, "path", None)
        return path(self.key(sha)) if path else "%s/%s" % (self.storage.root, self.key(sha))

    # checking
    def _about(self, sha):
        return _Filling(path=self.describe(sha), sha=sha)

    def _open(self, sha):
        """The open blob file ``sha`` and how messages name it; missing is an error."""
        where = "Blob file %s" % self.describe(sha)
        f = self.storage.open_read(self.key(sha))
        if f is None:
            raise MetaflowDataMissing("%s is missing from the datastore." % where)
        return f, where

    def _check(self, sha, found, where):
        if found != sha:
            raise MetaflowDataCorrupt(
                "%s is damaged: its content hashes to %s, not to the %s it is named by."
                % (where, found, sha), path=self.describe(sha), sha=sha)

    def verify(self, sha):
        """Raise unless the stored blob ``sha`` exists and its payload hashes to ``sha``."""
        f, where = self._open(sha)
        with f, self._about(sha):
            found = hash_blob_file(f, where)
        self._check(sha, found, where)

    def intact(self, sha):
        try:
            self.verify(sha)
            return True
        except (MetaflowDataMissing, MetaflowDataCorrupt):
            return False

    # writing
    def save_blob(self, data, sha=None):
        """Store bytes once; returns their sha1. A damaged stored copy is replaced."""
        sha = sha or sha1_of(data)
        if not self.intact(sha):
            self.storage.save_bytes(self.key(sha), encode_blob(data, self.codec, self.level))
        return sha

    def save_blobs(self, datas):
        """``save_blob`` of each of ``datas``, run in parallel where the storage
        does that; returns their sha1s in order."""
        return self.storage.parallel_map(self.save_blob, datas)

    def save_file(self, path, sha=None):
        """Move a staged blob file (header ``MFB`` ``n`` and the payload, as the R
        bridge writes it) into the store, streaming; returns the payload's sha1.

        ``sha``, when given, is the payload's sha1 as already hashed (the R bridge
        hashes a file as R writes it, r/verifier.py), so it isn't read again. The
        file is consumed: moved into place when the store keeps blobs
        uncompressed, else compressed into place and removed."""
        where = "Staged artifact file %s" % path
        with open(path, "rb") as f:
            if _read_header(f, where) != b"n":
                raise MetaflowDataCorrupt("%s must be uncompressed (codec n)." % where)
            if sha is None:
                digest = hashlib.sha1()
                for chunk in _payload_chunks(f, b"n", where):
                    digest.update(chunk)
                sha = digest.hexdigest()
        if self.intact(sha):
            os.unlink(path)
        elif self.codec == "n":
            self.storage.save_file(self.key(sha), path)
        else:
            self.storage.save_bytes(self.key(sha), self._compressed_chunks(path))
            os.unlink(path)
        return sha

    def _compressed_chunks(self, path):
        compressor = _compressor(self.codec, self.level)
        yield MAGIC + self.codec.encode()
        with open(path, "rb") as f:
            f.seek(HEADER_LEN)
            while True:
                chunk = f.read(CHUNK)
                if not chunk:
                    break
                yield compressor.compress(chunk)
        yield compressor.flush()

    # reading
    def load_blob(self, sha):
        """The payload of blob ``sha``, verified against its name."""
        f, where = self._open(sha)
        with f, self._about(sha):
            codec = _read_header(f, where)
            if codec == b"n":
                # One read of the rest: the payload is never copied after it.
                data = f.read()
            else:
                data = b"".join(_payload_chunks(f, codec, where))
        self._check(sha, sha1_of(data), where)
        return data


    def load_blobs(self, shas):
        """``load_blob`` of each of ``shas``, in order, in parallel where the storage
        does that; each is verified as ``load_blob`` verifies one."""
        return self.storage.parallel_map(self.load_blob, shas)


class _Filling(object):
    """Fills in which blob a MetaflowDataCorrupt raised while reading it is about."""

    def __init__(self, **fields):
        self.fields = fields

    def __enter__(self):
        return self

    def __exit__(self, kind, err, tb):
        if isinstance(err, MetaflowDataCorrupt):
            for name, value in self.fields.items():
                if getattr(err, name) is None:
                    setattr(err, name, value)
        return False
