"""Save and load time and stored size of artifacts under each blob codec.

Every codec gets its own ContentAddressedStore on a LocalStorage in a temporary
directory, and every repetition saves a different variant of each artifact, so
no write is skipped by deduplication. Timed: ``save_blob`` (sha1, compression,
atomic write) and ``load_blob`` (read, decompression) of the already-pickled
bytes; pickling costs the same under every codec and is left out. Loads read
what was just written, so the file is in the page cache, as it is when a task
reads its parent's artifacts on the same machine. Figures are medians.

    PYTHONPATH=inst/python python3 bench/compression.py [--repeats N] [--dir DIR]

``--s3`` measures instead what the codec costs where bytes travel: each
artifact compressed, uploaded to moto's S3 server on loopback (started and
stopped here) through S3Storage, downloaded and decompressed, under none,
zlib:1, zstd (PyPI ``zstandard``) levels 1 and 3 and lz4 (PyPI ``lz4``,
frame format), on Python pickles and on R's ``serialize()`` bytes of a data
frame and a numeric vector (made by Rscript). ``--bandwidth-mbps`` adds the
time the stored bytes would take on a link of that speed (moto on loopback has
none), so the ranking can be read for a real network too.

    .venv/bin/python bench/compression.py --s3 [--repeats N] [--bandwidth-mbps 1000]
"""

import argparse
import os
import pickle
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from array import array

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "inst", "python"))

from metaflow_core.datastore.cas import ContentAddressedStore  # noqa: E402
from metaflow_core.datastore.storage import LocalStorage  # noqa: E402

CODECS = ["none", "zlib:1", "zlib:3", "zlib:6", "gzip:3"]
MB = 1024 * 1024
# a codec whose total time is within this share of the fastest counts as a tie on time
TIE = 0.10

WORDS = ("the a flow step run task artifact datastore metadata foreach join retry "
         "model train score data frame value error warning finished started worker "
         "parameter alpha beta learning rate epoch batch loss accuracy").split()


def small_int(rng):
    return rng.randrange(10 ** 6)


def float_list(rng):
    return [rng.random() for _ in range(1000)]


def random_bytes(rng):
    return rng.randbytes(MB)


def numeric_array(rng):
    """10 MB of doubles like measurements: integer counts and 3-decimal readings."""
    n = 10 * MB // 8
    counts = [float(rng.randrange(5000)) for _ in range(n // 2)]
    readings = [round(rng.gauss(20.0, 5.0), 3) for _ in range(n - n // 2)]
    return array("d", counts + readings)


def text(rng):
    """5 MB of log-like English text."""
    lines, size = [], 0
    while size < 5 * MB:
        line = "%06d %s\n" % (rng.randrange(10 ** 6), " ".join(rng.choices(WORDS, k=12)))
        lines.append(line)
        size += len(line)
    return "".join(lines)[: 5 * MB]


ARTIFACTS = [
    ("small int", small_int, 200),
    ("1k floats", float_list, 100),
    ("1 MB random", random_bytes, 10),
    ("10 MB array", numeric_array, 1),
    ("5 MB text", text, 1),
]


def variants(make, count, seed):
    rng = random.Random(seed)
    return [pickle.dumps(make(rng), protocol=4) for _ in range(count)]


def measure(stores, payloads):
    """Median save ms, median load ms and stored bytes per codec for one artifact."""
    saves = {c: [] for c in stores}
    loads = {c: [] for c in stores}
    stored = {c: 0 for c in stores}
    for i, data in enumerate(payloads):
        order = CODECS[i % len(CODECS):] + CODECS[: i % len(CODECS)]
        for codec in order:
            cas = stores[codec]
            started = time.perf_counter()
            sha = cas.save_blob(data)
            saved = time.perf_counter()
            back = cas.load_blob(sha)
            loaded = time.perf_counter()
            assert back == data
            saves[codec].append(saved - started)
            loads[codec].append(loaded - saved)
            stored[codec] = os.path.getsize(cas.storage.path(cas.key(sha)))
    return {
        c: (1000 * statistics.median(saves[c]), 1000 * statistics.median(loads[c]), stored[c])
        for c in stores
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5,
                        help="variants of each large artifact (small ones get more)")
    parser.add_argument("--dir", default=None, help="where the temporary stores go")
    parser.add_argument("--s3", action="store_true",
                        help="upload + download over moto's S3 server, with zstd and lz4")
    parser.add_argument("--bandwidth-mbps", type=float, default=1000.0,
                        help="with --s3: the link speed the transfer column assumes")
    args = parser.parse_args()
    if args.s3:
        return main_s3(args)

    workdir = tempfile.mkdtemp(prefix="mf-compression-", dir=args.dir)
    try:
        stores = {
            c: ContentAddressedStore(LocalStorage(os.path.join(workdir, c.replace(":", "_"))),
                                     "Bench/data", compression=c)
            for c in CODECS
        }
        results = {}
        for seed, (name, make, per_repeat) in enumerate(ARTIFACTS):
            payloads = variants(make, max(per_repeat * args.repeats, 3), seed)
            results[name] = measure(stores, payloads)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print("%-8s %-12s %9s %9s %10s" % ("codec", "artifact", "save ms", "load ms", "stored MB"))
    for codec in CODECS:
        for name, _, _ in ARTIFACTS:
            save_ms, load_ms, size = results[name][codec]
            print("%-8s %-12s %9.3f %9.3f %10.4f" % (codec, name, save_ms, load_ms, size / MB))

    totals = {
        c: (sum(results[n][c][0] + results[n][c][1] for n, _, _ in ARTIFACTS),
            sum(results[n][c][2] for n, _, _ in ARTIFACTS) / MB)
        for c in CODECS
    }
    print()
    print("%-8s %14s %15s" % ("codec", "total ms", "total MB"))
    for codec in sorted(CODECS, key=lambda c: totals[c][0]):
        print("%-8s %14.1f %15.2f" % (codec, totals[codec][0], totals[codec][1]))

    fastest = min(CODECS, key=lambda c: totals[c][0])
    print()
    print("Recommendation (fastest save + load over all artifacts): %s, %.1f ms, %.2f MB stored."
          % (fastest, totals[fastest][0], totals[fastest][1]))
    ties = [c for c in CODECS
            if c != fastest and totals[c][0] <= (1 + TIE) * totals[fastest][0]]
    smaller = [c for c in ties if totals[c][1] < totals[fastest][1]]
    if smaller:
        best = min(smaller, key=lambda c: totals[c][1])
        print("Size tie-break: %s is within %d%% of that time (%.1f ms) and stores %.2f MB "
              "instead of %.2f MB." % (best, 100 * TIE, totals[best][0], totals[best][1],
                                       totals[fastest][1]))
    else:
        print("Size tie-break: no codec within %d%% of that time stores less."
              % (100 * TIE))


# --s3: codecs over moto's S3 server

R_ARTIFACTS = {
    "R data.frame": "n <- 200000L; x <- data.frame(id = seq_len(n), group = factor(sample("
                    "letters[1:8], n, TRUE)), value = round(rnorm(n, 20, 5), 3), count = "
                    "sample(0:5000, n, TRUE), label = sprintf('item-%05d', sample(1:99999, n, "
                    "TRUE)))",
    "R numeric 8 MB": "x <- round(rnorm(1e6, 100, 15), 2)",
}


def r_artifacts(workdir):
    """R's serialize() bytes (what an R step stores) of each R_ARTIFACTS value."""
    made = {}
    for i, (name, code) in enumerate(sorted(R_ARTIFACTS.items())):
        path = os.path.join(workdir, "r%d.bin" % i)
        script = "set.seed(%d); %s; writeBin(serialize(x, NULL), commandArgs(TRUE)[1])" % (
            i, code)
        subprocess.run(["Rscript", "-e", script, path], check=True, capture_output=True)
        with open(path, "rb") as f:
            made[name] = f.read()
    return made


def s3_codecs():
    import lz4.frame
    import zstandard

    def zstd(level):
        return (lambda d: zstandard.ZstdCompressor(level=level).compress(d),
                lambda d: zstandard.ZstdDecompressor().decompress(d))

    return {
        "none": (bytes, bytes),
        "zlib:1": (lambda d: zlib.compress(d, 1), zlib.decompress),
        "zstd:1": zstd(1),
        "zstd:3": zstd(3),
        "lz4": (lambda d: lz4.frame.compress(d, compression_level=0), lz4.frame.decompress),
    }


def main_s3(args):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pytests"))
    from moto_server import MotoServer

    codecs = s3_codecs()
    rng = random.Random(7)
    workdir = tempfile.mkdtemp(prefix="mf-compression-s3-", dir=args.dir)
    try:
        artifacts = {
            "py 1k floats": pickle.dumps(float_list(rng), protocol=4),
            "py 10 MB array": pickle.dumps(numeric_array(rng), protocol=4),
            "py 5 MB text": pickle.dumps(text(rng), protocol=4),
            "py 1 MB random": pickle.dumps(random_bytes(rng), protocol=4),
        }
        artifacts.update(r_artifacts(workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    with MotoServer() as server:
        os.environ.update(server.env(prefix="compression"))
        server.make_bucket()
        from metaflow_core.datastore.storage import get_storage

        storage = get_storage("s3")
        results = {}
        for name, data in artifacts.items():
            for codec, (pack, unpack) in codecs.items():
                ups, downs = [], []
                for r in range(max(args.repeats, 3)):
                    key = "c/%s/%s/%d" % (codec, name.replace(" ", "_"), r)
                    started = time.perf_counter()
                    packed = pack(data)
                    storage.save_bytes(key, packed)
                    saved = time.perf_counter()
                    back = unpack(storage.load_bytes(key))
                    loaded = time.perf_counter()
                    assert back == data
                    ups.append(saved - started)
                    downs.append(loaded - saved)
                results[(name, codec)] = (1000 * statistics.median(ups),
                                          1000 * statistics.median(downs), len(packed))

    link = args.bandwidth_mbps * 1e6 / 8 / 1000  # bytes per ms
    print("%-16s %-7s %9s %9s %9s %7s %12s" % ("artifact", "codec", "up ms", "down ms",
                                               "stored MB", "ratio", "+link ms"))
    for name, data in artifacts.items():
        for codec in codecs:
            up, down, size = results[(name, codec)]
            print("%-16s %-7s %9.2f %9.2f %9.3f %7.2f %12.1f" % (
                name, codec, up, down, size / MB, len(data) / size, 2 * size / link))
    total_in = sum(len(d) for d in artifacts.values())
    print()
    print("Totals over the %d artifacts (%.1f MB raw); the last column adds 2 x stored / "
          "%.0f Mbit/s:" % (len(artifacts), total_in / MB, args.bandwidth_mbps))
    print("%-7s %12s %10s %7s %16s" % ("codec", "up+down ms", "stored MB", "ratio",
                                       "with link ms"))
    totals = {}
    for codec in codecs:
        ms = sum(results[(n, codec)][0] + results[(n, codec)][1] for n in artifacts)
        size = sum(results[(n, codec)][2] for n in artifacts)
        totals[codec] = (ms, size, ms + 2 * size / link)
    for codec in sorted(codecs, key=lambda c: totals[c][2]):
        ms, size, with_link = totals[codec]
        print("%-7s %12.1f %10.2f %7.2f %16.1f" % (codec, ms, size / MB, total_in / size,
                                                   with_link))


if __name__ == "__main__":
    main()
