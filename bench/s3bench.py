"""Scenario 1 (and 2 when the native helper is built): one S3 bucket on s3rver
and on s3s-fs, listed by a full Tributary sync, `rclone lsf -R` and `s5cmd ls`
(and, in process, by the S3 WASM plugin and a native Rust lister).

Buckets are seeded by writing each emulator's backing folder directly (both
keep objects as plain files) and cached under $TRIBUTARY_TOOLS/bench/s3-data,
so 100k objects are seeded once, in seconds.
"""

import hashlib
import json
import os
import shutil
import statistics
import subprocess
import time
from pathlib import Path

from bench import BENCH_CACHE, Stat, free_port, log, spawn, stop, tool, wait_port, Server, native_helper

BUCKET = "bench-bucket"
ACCESS_KEY = "S3RVER"  # s3rver's built-in key pair; s3s-fs is started with it too
SECRET = "S3RVER"
KEYS_PER_DIR = 1000


def keys(n):
    return [f"d{i // KEYS_PER_DIR:04}/obj-{i:07}.bin" for i in range(n)]


def body(i):
    return f"object {i}\n".encode()


def seed(kind, n):
    """The cached backing folder of `kind` holding BUCKET with n objects."""
    root = BENCH_CACHE / "s3-data" / f"{kind}-{n}"
    done = root / ".seeded"
    if done.exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    bucket = root / BUCKET
    t0 = time.time()
    for i, key in enumerate(keys(n)):
        data = body(i)
        if kind == "s3s-fs":
            path = bucket / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        else:  # s3rver: <dir>/<name>._S3rver_object (+ .md5 and metadata.json)
            d, name = key.rsplit("/", 1)
            folder = bucket / d
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{name}._S3rver_object").write_bytes(data)
            (folder / f"{name}._S3rver_object.md5").write_text(hashlib.md5(data).hexdigest())
            (folder / f"{name}._S3rver_metadata.json").write_text(
                '{"content-type": "application/octet-stream"}')
    done.write_text(str(n))
    log(f"  seeded {n:,} objects for {kind} in {time.time() - t0:.1f}s ({root})")
    return root


class Emulator:
    def __init__(self, kind, n, work):
        self.kind = kind
        src = seed(kind, n)
        self.port = free_port()
        self.dir = src  # both emulators only read while listing
        self.log = work / f"{kind}-{self.port}.log"
        if kind == "s3s-fs":
            args = [tool("s3s-fs"), "--host", "127.0.0.1", "--port", self.port,
                    "--access-key", ACCESS_KEY, "--secret-key", SECRET, self.dir]
        else:
            args = [tool("s3rver"), "-d", self.dir, "-a", "127.0.0.1", "-p", self.port,
                    "--silent", "--no-vhost-buckets"]
        self.proc = spawn(args, self.log)
        wait_port(self.port, proc=self.proc, log=self.log)
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def close(self):
        stop(self.proc)


def clean_env():
    env = dict(os.environ)
    env.pop("AWS_CA_BUNDLE", None)  # rclone: LoadCustomCABundleError otherwise
    env.update({"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_REGION": "us-east-1"})
    return env


def rclone(emu, n):
    env = clean_env()
    env.update({
        "RCLONE_CONFIG_BENCH_TYPE": "s3", "RCLONE_CONFIG_BENCH_PROVIDER": "Other",
        "RCLONE_CONFIG_BENCH_ACCESS_KEY_ID": ACCESS_KEY, "RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY": SECRET,
        "RCLONE_CONFIG_BENCH_ENDPOINT": emu.endpoint, "RCLONE_CONFIG_BENCH_REGION": "us-east-1",
        "RCLONE_CONFIG": "/dev/null",
    })
    args = ["rclone", "lsf", "-R", "--files-only", f"bench:{BUCKET}"]
    if emu.kind == "s3s-fs":
        args[1:1] = ["--disable", "ListR"]
    return timed(args, env, n)


def s5cmd(emu, n):
    args = [tool("s5cmd"), "--endpoint-url", emu.endpoint, "ls", f"s3://{BUCKET}/*"]
    return timed(args, clean_env(), n)


def timed(args, env, n):
    t0 = time.perf_counter()
    out = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - t0
    lines = [l for l in out.stdout.splitlines() if l.strip() and not l.rstrip().endswith("/")]
    if out.returncode != 0 or len(lines) != n:
        raise RuntimeError(f"{args[0]} listed {len(lines)} of {n} (rc {out.returncode}): {out.stderr[-800:]}")
    return elapsed


def tributary_sync(bench, emu, n):
    """A fresh server (embedded store) per run; trigger → COMPLETED."""
    server = Server(bench.work, bench.plugins, name="s3")
    try:
        config = {"credentials": {"type": "access_key", "access_key_id": ACCESS_KEY, "secret_access_key": SECRET},
                  "region": "us-east-1", "endpoint_url": emu.endpoint}
        bucket, sync = server.setup_sync("s3", config, source_path=BUCKET)
        elapsed, job = server.run_sync(bucket, sync)
        m = job["metrics"]
        if m["objects_created"] != n:
            raise RuntimeError(f"Tributary created {m['objects_created']} of {n}: {m}")
        return elapsed, job
    finally:
        server.close()
        shutil.rmtree(server.data_dir, ignore_errors=True)


# s3s-fs answers a flat (no delimiter) ListObjectsV2 page by walking the bucket folder
# from the start, so a listing of n keys costs O(n^2 / 1000) file visits: 100k keys would
# take many minutes per listing for every flat lister (s5cmd and Tributary alike).
S3S_FS_CAP = {True: 5_000, False: 20_000}


def run_s3_scenario(bench, n):
    res = {"n": n}
    native = native_helper()
    reps = min(bench.reps, 2) if bench.quick and not bench.args.reps else bench.reps
    for kind in ("s3rver", "s3s-fs"):
        full_n = n
        if kind == "s3s-fs" and not bench.args.n_s3:
            n = min(n, S3S_FS_CAP[bench.quick])
        res[kind + "_n"] = n
        emu = Emulator(kind, n, bench.work)
        try:
            # one warm-up listing (the emulators' own caches, page cache)
            s5cmd(emu, n)
            tools = {"tributary": [], "rclone": [], "s5cmd": []}
            sandbox = {"wasm": [], "native": []}
            for i in range(reps):
                t, job = tributary_sync(bench, emu, n)
                tools["tributary"].append(n / t)
                tools["rclone"].append(n / rclone(emu, n))
                tools["s5cmd"].append(n / s5cmd(emu, n))
                log(f"  {kind} #{i + 1}: tributary {n / t:,.0f}/s, rclone {tools['rclone'][-1]:,.0f}/s, "
                    f"s5cmd {tools['s5cmd'][-1]:,.0f}/s")
                if native:
                    out = subprocess.run(
                        [native, "s3-list", "--plugins-dir", str(bench.plugins), "--endpoint", emu.endpoint,
                         "--bucket", BUCKET, "--access-key", ACCESS_KEY, "--secret-key", SECRET,
                         "--expect", str(n)], capture_output=True, text=True)
                    if out.returncode == 0:
                        r = json.loads(out.stdout.strip().splitlines()[-1])
                        sandbox["wasm"].append(n / r["wasm_s"])
                        sandbox["native"].append(n / r["native_s"])
                        log(f"  {kind} #{i + 1}: in-process listing wasm {n / r['wasm_s']:,.0f}/s, "
                            f"native {n / r['native_s']:,.0f}/s")
                    else:
                        bench.notes["sandbox"] = f"native helper failed: {out.stderr[-600:]}"
            res[kind] = {k: Stat(v, "objects/s") for k, v in tools.items()}
            if sandbox["wasm"]:
                res[kind + "_sandbox"] = {k: Stat(v, "objects/s") for k, v in sandbox.items()}
        finally:
            emu.close()
            n = full_n
    return res
