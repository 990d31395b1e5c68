"""r/verifier.py: verdicts on blob files R reads, and hashes of those R writes, against
real files and named pipes."""

import hashlib
import os

from metaflow_core.datastore.cas import MAGIC
from metaflow_core.r.verifier import BlobVerifier, verdict


def blob(path, payload):
    with open(path, "wb") as f:
        f.write(MAGIC + b"n" + payload)
    return hashlib.sha1(payload).hexdigest()


def test_a_verdict_is_ok_missing_or_what_is_wrong(tmp_path):
    path = str(tmp_path / "a.blob")
    sha = blob(path, b"payload" * 1000)
    assert verdict(sha, path) == "ok"

    with open(path, "r+b") as f:
        f.seek(10)
        f.write(b"X")
    assert verdict(sha, path).startswith("Its content hashes to ")
    assert sha in verdict(sha, path)

    with open(path, "wb") as f:
        f.write(b"plain")
    assert "no metaflow blob header" in verdict(sha, path)

    assert verdict(sha, str(tmp_path / "gone.blob")) == "missing"


def ask(verifier, line):
    with open(verifier.requests, "wb", buffering=0) as requests:
        requests.write(line.encode() + b"\n")


def test_the_verifier_answers_through_its_pipes_and_hashes_a_file_as_it_is_written(tmp_path):
    verifier = BlobVerifier(str(tmp_path))
    try:
        good = str(tmp_path / "good.blob")
        sha = blob(good, b"x" * 5000)
        verdicts = open(verifier.verdicts, "rb")
        ask(verifier, "verify %s %s" % (sha, good))
        assert verdicts.readline() == b"ok\n"
        ask(verifier, "verify %s %s" % ("0" * 40, good))
        assert b"hashes to %s" % sha.encode() in verdicts.readline()

        # A file written in pieces while it is followed, as R's serialize() writes.
        written = str(tmp_path / "1.blob")
        pieces = [os.urandom(300000) for _ in range(20)]
        out = open(written, "wb")
        ask(verifier, "write %s" % written)
        out.write(MAGIC + b"n")
        for piece in pieces:
            out.write(piece)
            out.flush()
        out.close()
        ask(verifier, "written %s" % written)
        # A file R never finished (it failed) has no hash.
        unfinished = str(tmp_path / "2.blob")
        open(unfinished, "wb").close()
        ask(verifier, "write %s" % unfinished)
    finally:
        verifier.close()
    assert verifier.written_sha(written) == hashlib.sha1(b"".join(pieces)).hexdigest()
    assert verifier.written_sha(unfinished) is None
    assert verifier.written_sha(str(tmp_path / "never.blob")) is None


def test_blobs_a_step_may_read_are_hashed_ahead_and_each_verdict_is_of_its_own_file(tmp_path):
    paths = [str(tmp_path / ("%d.blob" % i)) for i in range(4)]
    shas = [blob(path, os.urandom(2 << 20)) for path in paths]
    # One damaged before the step starts: its verdict, worked out ahead, says so.
    with open(paths[2], "r+b") as f:
        f.seek(100)
        f.write(b"\0\0\0")
    verifier = BlobVerifier(str(tmp_path), ahead=list(zip(shas, paths)) + [(shas[0], paths[0])])
    try:
        verdicts = open(verifier.verdicts, "rb")
        # Asked in another order than the one hashed ahead, and one not listed.
        for i in (3, 2, 0, 1):
            ask(verifier, "verify %s %s" % (shas[i], paths[i]))
            answer = verdicts.readline()
            if i == 2:
                assert answer.startswith(b"Its content hashes to ") and shas[2].encode() in answer
            else:
                assert answer == b"ok\n"
        extra = str(tmp_path / "extra.blob")
        extra_sha = blob(extra, b"late")
        ask(verifier, "verify %s %s" % (extra_sha, extra))
        assert verdicts.readline() == b"ok\n"
        ask(verifier, "verify %s %s" % (shas[1], extra))
        assert b"hashes to %s" % extra_sha.encode() in verdicts.readline()
        verdicts.close()
    finally:
        verifier.close()
