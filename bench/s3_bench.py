"""Many small artifacts and one large one to and from S3 (moto's server on
loopback, started and stopped here), through our datastore against plain boto3.

Ours: the content-addressed store on S3Storage, as a task uses it: every blob
is hashed, looked for first (a blob already stored is not sent again), sent in
parallel (``save_blobs``/``load_blobs``, METAFLOW_S3_WORKERS threads), and
verified against its hash when read; the large one goes up as a multipart
upload from its staged file (``save_file``, as an R step's artifact does) and
comes back either whole into memory (``load_blob``) or streamed and hashed
(``verify``, memory bounded). Baseline: the same bytes with sequential
single-object ``put_object``/``get_object`` calls and no hashing, in the same
run against the same server. Every byte read back is compared.

    .venv/bin/python bench/s3_bench.py [--small 1000] [--large-mb 1024] [--quick]
"""

import argparse
import hashlib
import os
import pickle
import random
import resource
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "inst", "python"))
sys.path.insert(0, os.path.join(HERE, "..", "pytests"))

from moto_server import MotoServer  # noqa: E402

MB = 1024 * 1024


def small_artifacts(count, seed=0):
    """Pickled values like a task's small artifacts: numbers, short lists, dicts, text."""
    rng = random.Random(seed)
    made = []
    for i in range(count):
        kind = i % 4
        if kind == 0:
            value = rng.random()
        elif kind == 1:
            value = [rng.random() for _ in range(rng.randrange(10, 500))]
        elif kind == 2:
            value = {"name": "model-%d" % i, "params": {"lr": rng.random(), "epochs": i}}
        else:
            value = " ".join(rng.choice(("step", "run", "flow", "data", "loss")) for _ in
                             range(rng.randrange(20, 400)))
        made.append(pickle.dumps((i, value), protocol=4))
    return made


def write_large(path, size_mb):
    """A staged blob file (header MFBn, then the payload) of ``size_mb`` of mixed bytes;
    returns the payload's sha1."""
    digest = hashlib.sha1()
    block = os.urandom(MB)
    with open(path, "wb") as f:
        f.write(b"MFBn")
        for i in range(size_mb):
            # Every MB differs, so no part of the upload is the same as another.
            chunk = i.to_bytes(8, "little") + block[8:]
            digest.update(chunk)
            f.write(chunk)
    return digest.hexdigest()


def timed(fn):
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=1000, help="how many small artifacts")
    parser.add_argument("--large-mb", type=int, default=1024, help="size of the large one, MB")
    parser.add_argument("--quick", action="store_true", help="100 small and a 64 MB one")
    parser.add_argument("--dir", default=None, help="where the staged large file goes")
    args = parser.parse_args()
    if args.quick:
        args.small, args.large_mb = 100, 64

    with MotoServer() as server:
        os.environ.update(server.env(prefix="bench"))
        server.make_bucket()
        from metaflow_core.datastore.cas import ContentAddressedStore
        from metaflow_core.datastore.storage import get_storage
        from metaflow_core.plugins.aws import aws_config

        storage = get_storage("s3")
        cas = ContentAddressedStore(storage, "Bench/data")
        client = aws_config.client("s3")
        bucket = storage.bucket
        rows = []

        blobs = small_artifacts(args.small)
        total = sum(len(b) for b in blobs)
        t_save, shas = timed(lambda: cas.save_blobs(blobs))
        t_load, back = timed(lambda: cas.load_blobs(shas))
        assert back == blobs

        def base_put():
            for i, blob in enumerate(blobs):
                client.put_object(Bucket=bucket, Key="baseline/small/%d" % i, Body=blob)

        def base_get():
            return [client.get_object(Bucket=bucket, Key="baseline/small/%d" % i)["Body"].read()
                    for i in range(len(blobs))]

        b_save, _ = timed(base_put)
        b_load, base_back = timed(base_get)
        assert base_back == blobs
        label = "%d small (%.1f MB)" % (len(blobs), total / MB)
        rows.append((label, "save", t_save, b_save))
        rows.append((label, "load", t_load, b_load))

        workdir = tempfile.mkdtemp(prefix="mf-s3-bench-", dir=args.dir)
        try:
            staged = os.path.join(workdir, "staged")
            baseline_file = os.path.join(workdir, "baseline")
            sha = write_large(staged, args.large_mb)
            shutil.copyfile(staged, baseline_file)
            t_save, got = timed(lambda: cas.save_file(staged, sha=sha))
            assert got == sha
            t_verify, _ = timed(lambda: cas.verify(sha))
            t_load, data = timed(lambda: cas.load_blob(sha))
            assert hashlib.sha1(data).hexdigest() == sha
            del data

            def base_put_large():
                with open(baseline_file, "rb") as f:
                    client.put_object(Bucket=bucket, Key="baseline/large", Body=f)

            b_save, _ = timed(base_put_large)
            # boto3's own managed multipart upload with the same part size and
            # threads: what a multipart upload costs on this server, apart from us.
            from boto3.s3.transfer import TransferConfig

            multipart = TransferConfig(multipart_threshold=32 * MB, multipart_chunksize=16 * MB,
                                       max_concurrency=aws_config.transfer_workers())
            b_multi, _ = timed(lambda: client.upload_file(baseline_file, bucket, "baseline/multi",
                                                          Config=multipart))
            b_load, data = timed(
                lambda: client.get_object(Bucket=bucket, Key="baseline/large")["Body"].read())
            assert hashlib.sha1(data[4:]).hexdigest() == sha
            del data
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        label = "1 x %d MB" % args.large_mb
        rows.append((label, "save", t_save, b_save))
        rows.append((label, "save; ref. boto3 multipart", t_save, b_multi))
        rows.append((label, "load (into memory)", t_load, b_load))
        rows.append((label, "load (streamed, verify)", t_verify, b_load))

    print("S3 on moto (127.0.0.1), %d transfer threads, multipart above 32 MB in 16 MB parts"
          % aws_config.transfer_workers())
    print("%-22s %-27s %9s %9s %8s" % ("data", "transfer", "ours s", "boto3 s", "speedup"))
    for label, what, ours, base in rows:
        print("%-22s %-27s %9.2f %9.2f %7.1fx" % (label, what, ours, base, base / ours))
    print("peak RSS of this process: %.0f MB" % (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


if __name__ == "__main__":
    main()
