"""The S3 backend of ``datastore/storage.py``: keys are objects under a root
``s3://bucket/prefix``, in the same layout as the local datastore.

No partial object is ever visible: every write is one PUT, or one multipart
upload that S3 makes visible only when it completes, never pieces written to
the final key. botocore retries whole requests (aws_config); a read that fails
in the middle of a body is resumed here with a ranged GET of the rest, pinned
to the object's ETag so the pieces are of one object.
"""

import io
import os
import random
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ...datastore.storage import Storage
from ...exceptions import MetaflowS3Error
from . import aws_config

MB = 1024 * 1024
# Objects above this go up in parts (botocore's TransferConfig); parts are this
# big, and at most workers of them are in memory at once per transfer.
MULTIPART_THRESHOLD = 32 * MB
MULTIPART_CHUNK = 16 * MB
READ_CHUNK = MB
# The first pause before a streaming read is resumed; it doubles each time (with jitter).
RESUME_BASE_SECONDS = 0.05
RESUME_MAX_SECONDS = 5.0


def parse_s3_url(url):
    """``s3://bucket/prefix`` as (bucket, prefix) with no slashes at the ends."""
    if not url or not url.startswith("s3://"):
        raise MetaflowS3Error("An S3 datastore root must look like s3://bucket/prefix, "
                              "not *%s*." % url, url=url)
    bucket, _, prefix = url[len("s3://"):].partition("/")
    if not bucket:
        raise MetaflowS3Error("The S3 URL *%s* names no bucket." % url, url=url)
    return bucket, prefix.strip("/")


def _transient_read_errors():
    """What a body read raises when the connection fails under it."""
    import botocore.exceptions
    import urllib3.exceptions

    return (botocore.exceptions.ResponseStreamingError, botocore.exceptions.ReadTimeoutError,
            botocore.exceptions.ConnectionClosedError, botocore.exceptions.IncompleteReadError,
            urllib3.exceptions.ProtocolError, urllib3.exceptions.ReadTimeoutError,
            ConnectionError, TimeoutError)


def _pause(attempt):
    """Exponential backoff with full jitter, as botocore's standard mode does."""
    time.sleep(random.uniform(0, min(RESUME_MAX_SECONDS, RESUME_BASE_SECONDS * 2 ** attempt)))


class S3Storage(Storage):
    TYPE = "s3"

    def __init__(self, root):
        self.bucket, self.prefix = parse_s3_url(root)
        super().__init__("s3://%s/%s" % (self.bucket, self.prefix) if self.prefix
                         else "s3://%s" % self.bucket)
        self.client = aws_config.client("s3")
        self.workers = aws_config.transfer_workers()
        self.retries = aws_config.retry_config()["total_max_attempts"]
        from boto3.s3.transfer import TransferConfig

        self.transfer_config = TransferConfig(
            multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_CHUNK,
            max_concurrency=self.workers, use_threads=True)

    @classmethod
    def find_root(cls, create=True, echo=None):
        """The S3 datastore root: ``METAFLOW_DATASTORE_SYSROOT_S3``, as in Metaflow."""
        root = os.environ.get("METAFLOW_DATASTORE_SYSROOT_S3")
        if not root:
            raise MetaflowS3Error(
                "The S3 datastore needs METAFLOW_DATASTORE_SYSROOT_S3, e.g. "
                "s3://my-bucket/metaflow; it is not set.")
        parse_s3_url(root)
        return root.rstrip("/")

    # keys
    def object_key(self, key):
        return "%s/%s" % (self.prefix, key) if self.prefix else key

    def url(self, key):
        return "s3://%s/%s" % (self.bucket, self.object_key(key))

    def _error(self, err, action, key):
        return aws_config.s3_error(err, action, self.url(key))

    @staticmethod
    def _is_missing(err):
        import botocore.exceptions

        if not isinstance(err, botocore.exceptions.ClientError):
            return False
        code = str(err.response.get("Error", {}).get("Code"))
        return code in ("404", "NoSuchKey", "NotFound")

    # the interface
    def is_file(self, key):
        import botocore.exceptions

        try:
            self.client.head_object(Bucket=self.bucket, Key=self.object_key(key))
            return True
        except botocore.exceptions.ClientError as err:
            if self._is_missing(err):
                return False
            raise self._error(err, "look for", key) from None
        except botocore.exceptions.BotoCoreError as err:
            raise self._error(err, "look for", key) from None

    def save_bytes(self, key, data, overwrite=True):
        import botocore.exceptions

        if not overwrite and self.is_file(key):
            return
        try:
            small = _small_body(data)
            if small is not None:
                self.client.put_object(Bucket=self.bucket, Key=self.object_key(key), Body=small)
            else:
                # A stream of chunks of unknown length: s3transfer reads it a part at
                # a time, so memory stays at a few parts whatever the total.
                self.client.upload_fileobj(_ChunkReader(data), self.bucket, self.object_key(key),
                                           Config=self.transfer_config)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as err:
            raise self._error(err, "write", key) from None

    def save_file(self, key, path):
        import boto3.exceptions
        import botocore.exceptions

        try:
            self.client.upload_file(path, self.bucket, self.object_key(key),
                                    Config=self.transfer_config)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError,
                boto3.exceptions.S3UploadFailedError) as err:
            raise self._error(err, "write", key) from None
        os.unlink(path)

    def load_bytes(self, key):
        f = self.open_read(key)
        if f is None:
            return None
        with f:
            return f.read()

    def open_read(self, key):
        response = self._get(key)
        return None if response is None else _S3Reader(self, key, response)

    def _get(self, key, start=0, etag=None):
        """get_object of ``key`` from byte ``start``; None when there is no such key."""
        import botocore.exceptions

        args = {"Bucket": self.bucket, "Key": self.object_key(key)}
        if start:
            args["Range"] = "bytes=%d-" % start
        if etag:
            args["IfMatch"] = etag
        try:
            return self.client.get_object(**args)
        except botocore.exceptions.ClientError as err:
            if self._is_missing(err) and not etag:
                return None
            raise self._error(err, "read", key) from None
        except botocore.exceptions.BotoCoreError as err:
            raise self._error(err, "read", key) from None

    def staging_dir(self):
        """A local directory: files staged here are uploaded, so any local disk will do."""
        uid = os.getuid() if hasattr(os, "getuid") else os.getpid()
        path = os.path.join(tempfile.gettempdir(), "metaflow-staging-%d" % uid)
        os.makedirs(path, exist_ok=True)
        return path

    def list_dir(self, prefix):
        import botocore.exceptions

        full = self.object_key(prefix).rstrip("/") + "/"
        found = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full, Delimiter="/")
            for page in pages:
                for common in page.get("CommonPrefixes", ()):
                    found.append((common["Prefix"][len(full):].rstrip("/"), False))
                for obj in page.get("Contents", ()):
                    found.append((obj["Key"][len(full):], True))
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as err:
            raise self._error(err, "list", prefix) from None
        return found

    def open_append(self, key):
        """A local file that goes up to ``key`` whole when it is closed; what is
        at ``key`` already comes first, so appending works as it does locally."""
        fd, path = tempfile.mkstemp(prefix="append-", dir=self.staging_dir())
        os.close(fd)
        existing = self.open_read(key)
        if existing is not None:
            with existing, open(path, "wb") as out:
                while True:
                    chunk = existing.read(READ_CHUNK)
                    if not chunk:
                        break
                    out.write(chunk)
        return _UploadOnClose(path, self, key)

    # many at once
    def parallel_map(self, fn, items):
        items = list(items)
        if len(items) < 2:
            return [fn(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(self.workers, len(items))) as pool:
            return list(pool.map(fn, items))


def _small_body(data):
    """``data`` as one bytes object when it is known to be small, else None."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return data if len(data) < MULTIPART_THRESHOLD else None
    if isinstance(data, (list, tuple)):
        if sum(len(chunk) for chunk in data) < MULTIPART_THRESHOLD:
            return b"".join(data)
    return None


class _ChunkReader(io.RawIOBase):
    """A readable stream over an iterable of bytes-like chunks, copying only what is asked."""

    def __init__(self, chunks):
        if isinstance(chunks, (bytes, bytearray, memoryview)):
            chunks = [chunks]
        self._chunks = iter(chunks)
        self._current = memoryview(b"")

    def readable(self):
        return True

    def readinto(self, buffer):
        # Fills the buffer unless the chunks run out: s3transfer takes a short
        # read for the end of the stream.
        buffer = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(buffer):
            if not len(self._current):
                chunk = next(self._chunks, None)
                if chunk is None:
                    break
                self._current = memoryview(chunk).cast("B")
                continue
            n = min(len(buffer) - filled, len(self._current))
            buffer[filled:filled + n] = self._current[:n]
            self._current = self._current[n:]
            filled += n
        return filled


class _S3Reader(io.RawIOBase):
    """The body of one object, read in order; a read that fails part way through
    (reset, timeout, a body cut short) goes on from where it stopped."""

    def __init__(self, storage, key, response):
        self._storage = storage
        self._key = key
        self._body = response["Body"]
        self._etag = response.get("ETag")
        self._size = response.get("ContentLength")
        self._pos = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def read(self, size=-1):
        if size is None or size < 0:
            parts = []
            while True:
                part = self.read(READ_CHUNK)
                if not part:
                    return b"".join(parts)
                parts.append(part)
        if size == 0 or (self._size is not None and self._pos >= self._size):
            return b""
        errors = _transient_read_errors()
        attempt = 0
        while True:
            try:
                data = self._body.read(size)
                if data or self._size is None:
                    self._pos += len(data)
                    return data
                failure = IOError("the body ended at byte %d of %d" % (self._pos, self._size))
            except errors as err:
                failure = err
            attempt += 1
            if attempt >= self._storage.retries:
                raise MetaflowS3Error(
                    "Could not read %s: the connection failed %d times part way through "
                    "(last: %s)." % (self._storage.url(self._key), attempt, failure),
                    url=self._storage.url(self._key), action="read", code="ReadFailed")
            _pause(attempt)
            self._body.close()
            self._body = self._storage._get(self._key, start=self._pos, etag=self._etag)["Body"]

    def close(self):
        if not self.closed:
            self._body.close()
        super().close()


class _UploadOnClose(io.FileIO):
    """A local append-only file whose whole content goes to S3 when it closes."""

    def __init__(self, path, storage, key):
        super().__init__(path, "ab")
        self._storage = storage
        self._key = key
        self._lock = threading.Lock()

    def close(self):
        with self._lock:
            if self.closed:
                return
            super().close()
            self._storage.save_file(self._key, self.name)
