"""Verifying the blobs an R process reads, while it reads them.

R has no fast SHA-1 (digest's runs at a quarter of hashlib's speed), and a
blob's sha1 is its name and its check. So the Python process that gave R a
blob's path hashes the file on a thread of its own while R deserializes it:
hashlib releases the GIL, the hash runs on another core, and R's read costs
about what it would without the check. R sends ``<sha> <path>`` before it
reads a blob and takes the verdict after; a value whose blob doesn't hash to
its name is discarded (inst/PROTOCOL.md, section 4).

In a step, :class:`BlobVerifier` serves a pair of named pipes in the step's
output directory (R opens them by name: base R can't inherit descriptors); the
R client asks its client server (``verify_blob``), which calls :func:`verdict`.
"""

import hashlib
import os
import threading

from ..datastore.cas import CHUNK, HEADER_LEN, MAGIC, hash_blob_file
from ..exceptions import MetaflowDataCorrupt

# Only for bench/artifact_bench.py, which measures what verifying costs: R
# then reads blobs without asking for a verdict. Never set it otherwise.
SKIP_ENV = "METAFLOW_BENCH_SKIP_READ_VERIFY"
# An empty line: written twice, it also ends a line a dying R left half-written.
_STOP = b"\n"


def verdict(sha, path):
    """``"ok"``, ``"missing"`` when there is no file (the reader says so itself),
    or one line saying what is wrong with the blob file ``path`` (which the
    reader names)."""
    try:
        f = open(path, "rb", buffering=0)
    except FileNotFoundError:
        return "missing"
    except OSError as err:
        return "Its datastore file can't be read: %s." % err.strerror
    with f:
        try:
            found = _payload_sha1(f)
        except MetaflowDataCorrupt as err:
            return err.message
        except OSError as err:
            return "Its datastore file can't be read: %s." % err.strerror
    if found != sha:
        return ("Its content hashes to %s, not to the %s it is named by." % (found, sha))
    return "ok"


def _payload_sha1(f):
    """The sha1 of an open blob file's payload. An uncompressed one (what R
    writes) is read into one reused buffer: hashing then keeps pace with R's
    reading, as it must to cost nothing."""
    header = f.read(HEADER_LEN)
    if header != MAGIC + b"n":
        f.seek(0)
        return hash_blob_file(f, "Its datastore file")
    digest = hashlib.sha1()
    buffer = bytearray(4 * CHUNK)
    view = memoryview(buffer)
    while True:
        n = f.readinto(buffer)
        if not n:
            return digest.hexdigest()
        digest.update(view[:n])


class BlobVerifier(object):
    """Answers an R step's requests on a thread, through two named pipes.

    * ``verify <sha> <path>``: R is about to read blob ``path``; the verdict
      (one line) goes to the verdicts pipe.
    * ``write <path>`` ... ``written <path>``: R is writing the blob file
      ``path``; it is hashed as it grows (:class:`_FollowingHash`), so moving it
      into the store needn't read it again (:meth:`written_sha`).

    Both pipes are held open read-write here, so R's opening either one never
    waits and a verdict is never written to a pipe nobody holds: the thread can
    neither block on an R that never asks nor on one that died mid-request.

    ``ahead`` lists the blobs (sha, path) the step may read: they are hashed
    from the moment the verifier starts, while Rscript starts up, so that a
    verdict is mostly ready when R asks (:class:`_HashAhead`).
    """

    def __init__(self, directory, ahead=()):
        self.requests = os.path.join(directory, "verify.requests")
        self.verdicts = os.path.join(directory, "verify.verdicts")
        os.mkfifo(self.requests, 0o600)
        os.mkfifo(self.verdicts, 0o600)
        self._requests_fd = os.open(self.requests, os.O_RDWR)
        self._verdicts_fd = os.open(self.verdicts, os.O_RDWR)
        self._writes = {}
        self._ahead = _HashAhead(ahead)
        self._thread = threading.Thread(target=self._serve, name="blob-verifier", daemon=True)
        self._thread.start()

    def fields(self):
        """The request's ``verifier``: where R sends requests and reads verdicts."""
        return {"requests": self.requests, "verdicts": self.verdicts}

    def _serve(self):
        reader = os.fdopen(os.dup(self._requests_fd), "rb")
        with reader:
            while True:
                line = reader.readline()
                if not line or line == _STOP:
                    return
                kind, _, rest = line.decode("utf-8", "replace").rstrip("\n").partition(" ")
                if kind == "write":
                    self._writes[rest] = _FollowingHash(rest)
                elif kind == "written" and rest in self._writes:
                    self._writes[rest].finish()
                elif kind == "verify":
                    sha, _, path = rest.partition(" ")
                    answer = self._ahead.verdict(sha, path).replace("\n", " ") + "\n"
                    try:
                        os.write(self._verdicts_fd, answer.encode("utf-8"))
                    except OSError:
                        return

    def written_sha(self, path):
        """The sha1 of the payload of the blob file R wrote at ``path``, if R said
        it finished writing it and it was hashed whole; else None."""
        following = self._writes.get(path)
        return None if following is None else following.sha()

    def close(self):
        """Stop the thread (R has exited) and close the pipes."""
        try:
            os.write(self._requests_fd, _STOP + _STOP)
        except OSError:
            pass
        self._thread.join()
        self._ahead.stop()
        for following in self._writes.values():
            following.abandon()
        for fd in (self._requests_fd, self._verdicts_fd):
            os.close(fd)


class _HashAhead(object):
    """Verdicts on the blobs a step may read, worked out before it asks.

    A thread of lowered priority hashes the blobs in turn (sha1 can't be split
    across cores, and R's read of a large vector takes about as long as its
    hash, so starting when R asks would make R wait for the rest). A blob R asks
    for first is hashed by the asking thread at once; one the thread is on is
    waited for. A verdict so given is of the file's bytes hashed during the
    step, as one hashed while R reads it would be. The price is hashing blobs
    the step never reads, on a thread the scheduler puts behind the run's work.
    """

    NICE = 10

    def __init__(self, blobs):
        self._lock = threading.Lock()
        self._queue = []
        self._entries = {}
        for sha, path in blobs:
            if (sha, path) not in self._entries:
                self._entries[(sha, path)] = _Entry()
                self._queue.append((sha, path))
        self._stopped = False
        self._thread = None
        if self._queue:
            self._thread = threading.Thread(target=self._work, name="blob-hash-ahead",
                                            daemon=True)
            self._thread.start()

    def _work(self):
        if hasattr(os, "setpriority") and hasattr(threading, "get_native_id"):
            try:
                # On Linux a thread's id names it to setpriority: only this one yields.
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.NICE)
            except OSError:
                pass
        while True:
            with self._lock:
                if self._stopped or not self._queue:
                    return
                key = self._queue.pop(0)
                entry = self._entries[key]
                entry.state = "hashing"
            entry.done(verdict(*key))

    def verdict(self, sha, path):
        key = (sha, path)
        with self._lock:
            entry = self._entries.get(key)
            mine = entry is None or entry.state == "queued"
            if entry is None:
                entry = self._entries[key] = _Entry()
            elif mine:
                self._queue.remove(key)
            if mine:
                entry.state = "hashing"
        if mine:
            entry.done(verdict(sha, path))
        return entry.wait()

    def stop(self):
        with self._lock:
            self._stopped = True
        # Not joined: a hash in progress ends by itself, and the task needn't wait.


class _Entry(object):
    def __init__(self):
        self.state = "queued"
        self._event = threading.Event()
        self._verdict = None

    def done(self, answer):
        self._verdict = answer
        self.state = "done"
        self._event.set()

    def wait(self):
        self._event.wait()
        return self._verdict


class _FollowingHash(object):
    """The sha1 of a blob file's payload, read on a thread of its own while R
    writes the file, so the hash runs on another core as R serializes."""

    def __init__(self, path):
        self.path = path
        self._finished = threading.Event()
        self._abandoned = False
        self._sha = None
        self._thread = threading.Thread(target=self._follow, name="blob-hash", daemon=True)
        self._thread.start()

    def _follow(self):
        digest = hashlib.sha1()
        skip = HEADER_LEN
        drained = False
        try:
            with open(self.path, "rb") as f:
                while True:
                    chunk = f.read(CHUNK)
                    if chunk:
                        if skip:
                            head, chunk = chunk[:skip], chunk[skip:]
                            skip -= len(head)
                        digest.update(chunk)
                    elif drained:
                        break
                    elif self._finished.is_set():
                        # R has closed the file: one more read takes what it
                        # wrote after the last one, then the file is whole.
                        drained = True
                    elif self._abandoned:
                        return
                    else:
                        self._finished.wait(0.002)
        except OSError:
            return
        if not skip:
            self._sha = digest.hexdigest()

    def finish(self):
        self._finished.set()

    def abandon(self):
        """Stop following a file R never said it finished (it failed or died)."""
        self._abandoned = True
        self._thread.join()

    def sha(self):
        if not self._finished.is_set():
            return None
        self._thread.join()
        return self._sha
