#!/usr/bin/env python3
"""Tributary benchmark driver (`just bench`, `just bench --quick`).

Starts its own services on free loopback ports (tributary serve, redis-server,
s3rver, s3s-fs), runs each scenario several times, and writes
bench/results/latest.md (medians, min/max, ratios, machine, versions) and
bench/results/throughput.png (the ratios against their targets).

Benchmarks print figures; they do not pass or fail. Every process started here
is stopped at the end (also on Ctrl-C).
"""

import argparse
import atexit
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = Path(os.environ.get("TRIBUTARY_TOOLS", Path.home() / ".cache/tributary-tools"))
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/tributary-target"))
BENCH_CACHE = TOOLS / "bench"
ADMIN_KEY = "trb_bench_admin_key_0123456789abcdef"
SECRET_KEY = "YmVuY2gtb25seS1zZWFsaW5nLWtleS0zMi1ieXRlcyE="  # base64 of 32 bytes

# -- process bookkeeping -----------------------------------------------------

STARTED = []  # Popen objects to stop at exit


def stop_all():
    for proc in reversed(STARTED):
        if proc.poll() is None:
            try:
                proc.terminate()
                proc.wait(timeout=10)
            except Exception:
                try:
                    proc.kill()
                    proc.wait(timeout=5)
                except Exception:
                    pass
    STARTED.clear()


atexit.register(stop_all)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def spawn(args, log, env=None, cwd=None):
    proc = subprocess.Popen(
        [str(a) for a in args],
        stdin=subprocess.DEVNULL,
        stdout=open(log, "ab"),
        stderr=subprocess.STDOUT,
        env=env,
        cwd=cwd,
        start_new_session=True,
    )
    STARTED.append(proc)
    return proc


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc in STARTED:
        STARTED.remove(proc)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=60, proc=None, log=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited early; log {log}:\n{Path(log).read_text()[-3000:] if log else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s (log {log})")


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def tool(name):
    path = TOOLS / "bin" / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found:
        return found
    raise RuntimeError(f"{name} is missing: run bench/install.sh")


def vm_kib(pid, field):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


# -- statistics ----------------------------------------------------------------


class Stat:
    def __init__(self, values, unit, higher_is_better=True):
        self.values = list(values)
        self.unit = unit
        self.higher_is_better = higher_is_better

    @property
    def median(self):
        return statistics.median(self.values)

    @property
    def lo(self):
        return min(self.values)

    @property
    def hi(self):
        return max(self.values)

    def fmt(self, v=None):
        v = self.median if v is None else v
        if abs(v) >= 100:
            return f"{v:,.0f}"
        if abs(v) >= 10:
            return f"{v:.1f}"
        if abs(v) >= 1:
            return f"{v:.2f}"
        return f"{v:.3f}"


# -- Redis ---------------------------------------------------------------------


class Redis:
    def __init__(self, work):
        self.port = free_port()
        self.dir = work / f"redis-{self.port}"
        self.dir.mkdir(parents=True)
        self.log = self.dir / "redis.log"
        self.proc = spawn(
            [tool("redis-server"), "--port", self.port, "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--daemonize", "no"],
            self.log,
        )
        wait_port(self.port, proc=self.proc, log=self.log)
        self.url = f"redis://127.0.0.1:{self.port}"

    def cli(self, *args):
        return subprocess.run([tool("redis-cli"), "-p", str(self.port), *map(str, args)],
                              check=True, capture_output=True, text=True).stdout

    def flush(self):
        self.cli("FLUSHALL")

    def close(self):
        stop(self.proc)


# -- Tributary server ----------------------------------------------------------


class Api:
    """A keep-alive HTTP/1.1 client for one server."""

    def __init__(self, port):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def call(self, method, path, body=None, auth=True):
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {ADMIN_KEY}"
        data = json.dumps(body).encode() if body is not None else None
        for attempt in range(3):
            try:
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                text = resp.read().decode()
                break
            except (http.client.HTTPException, ConnectionError, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                if attempt == 2:
                    raise
        if not 200 <= resp.status < 300:
            raise RuntimeError(f"{method} {path} -> {resp.status}: {text[:500]}")
        return json.loads(text) if text else None


class Server:
    def __init__(self, work, plugins_dir, redis=None, data_dir=None, name="server", extra=()):
        self.port = free_port()
        self.data_dir = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix=f"{name}-", dir=work))
        self.log = self.data_dir.with_suffix(".log")
        env = dict(os.environ)
        for k in list(env):
            if k.startswith("TRIBUTARY_"):
                del env[k]
        env.update({
            "TRIBUTARY_ADMIN_KEY": ADMIN_KEY,
            "TRIBUTARY_SECRET_KEY": SECRET_KEY,
            "RUST_LOG": "warn",
        })
        args = [binary(), "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", self.data_dir,
                "--plugins-dir", plugins_dir, "--scheduler-tick", "3600", *extra]
        if redis is not None:
            self.prefix = f"bench{self.port}"
            args += ["--redis-url", redis.url, "--redis-prefix", self.prefix]
        self.t_spawn = time.perf_counter()
        self.proc = spawn(args, self.log, env=env)
        self.api = Api(self.port)
        self.startup_s = self._wait_healthy()

    def _wait_healthy(self, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tributary serve exited:\n{self.log.read_text()[-3000:]}")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    c.close()
                    return time.perf_counter() - self.t_spawn
            except OSError:
                pass
            time.sleep(0.005)
        raise RuntimeError("tributary serve did not become healthy")

    @property
    def pid(self):
        return self.proc.pid

    def close(self):
        stop(self.proc)

    # The API flow of tests/support/flow.rs.
    def setup_sync(self, provider, config, source_path="", sync=None, test_before_save=False):
        name = f"{provider}-{time.monotonic_ns()}"
        conn = self.api.call("POST", "/v1/organizations/connections", {
            "name": name, "provider_type": provider, "provider_config": config,
            "test_before_save": test_before_save})
        bucket = self.api.call("POST", "/v1/buckets", {"bucket_name": f"b-{name}"})
        # No per-run cap: the default (100,000 objects per run) would end the
        # larger syncs early and the figures would describe a partial run.
        body = {"connection_id": conn["connection_id"], "source_path": source_path,
                "max_objects_per_run": 0}
        body.update(sync or {})
        cfg = self.api.call("POST", f"/v1/buckets/{bucket['bucket_id']}/syncs", body)
        return bucket["bucket_id"], cfg["sync_config_id"]

    def trigger(self, bucket, sync, full=True):
        return self.api.call("POST", f"/v1/buckets/{bucket}/syncs/{sync}/trigger?full_sync={str(full).lower()}")

    def wait_job(self, job_id, poll=0.02, timeout=3600):
        deadline = time.time() + timeout
        while True:
            job = self.api.call("GET", f"/v1/syncs/{job_id}")
            if job["status"] not in ("PENDING", "IN_PROGRESS"):
                return job
            if time.time() > deadline:
                raise RuntimeError(f"job {job_id} did not end: {job}")
            time.sleep(poll)

    def run_sync(self, bucket, sync):
        """Trigger → terminal state; returns (seconds, job)."""
        t0 = time.perf_counter()
        job = self.trigger(bucket, sync)
        job = self.wait_job(job["sync_job_id"])
        elapsed = time.perf_counter() - t0
        if job["status"] != "COMPLETED":
            raise RuntimeError(f"sync ended {job['status']}: {json.dumps(job)[:1000]}")
        return elapsed, job


def binary():
    return Path(os.environ.get("TRIBUTARY_BENCH_BIN", TARGET / "release" / "tributary"))


# -- scenarios -----------------------------------------------------------------


class Bench:
    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.reps = args.reps or (3 if self.quick else 3)
        self.work = Path(tempfile.mkdtemp(prefix="tributary-bench-"))
        self.plugins = Path(args.plugins_dir)
        self.results = {}  # scenario -> dict
        self.notes = {}
        self.t_start = time.time()

    def cleanup(self):
        stop_all()
        shutil.rmtree(self.work, ignore_errors=True)

    # 3. pipeline throughput -----------------------------------------------
    def synthetic_config(self, count):
        return {"count": count, "seed": 7, "page_size": 1000}

    def pipeline_run(self, count, redis=None):
        """One fresh server, one full sync of `count` synthetic entries.
        Returns (seconds, job, VmHWM KiB)."""
        server = Server(self.work, self.plugins, redis=redis, name="pipe")
        try:
            bucket, sync = server.setup_sync("synthetic", self.synthetic_config(count))
            rss_before = vm_kib(server.pid, "VmHWM")
            elapsed, job = server.run_sync(bucket, sync)
            m = job["metrics"]
            if m["objects_created"] != count:
                raise RuntimeError(f"expected {count} objects, job says {m}")
            hwm = vm_kib(server.pid, "VmHWM")
            return elapsed, job, hwm, rss_before
        finally:
            server.close()
            shutil.rmtree(server.data_dir, ignore_errors=True)
            if redis is not None:
                redis.flush()

    def listing_alone(self, count):
        data = self.work / "list-data"
        data.mkdir(exist_ok=True)
        cmd = [binary(), "plugin", "list-files", "synthetic", "--config",
               json.dumps(self.synthetic_config(count)), "--output", "summary",
               "--plugins-dir", self.plugins, "--data-dir", data]
        env = dict(os.environ, RUST_LOG="warn")
        t0 = time.perf_counter()
        out = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env)
        elapsed = time.perf_counter() - t0
        if out.returncode != 0 or f"listed {count} files" not in out.stderr:
            raise RuntimeError(f"list-files failed: {out.stderr[-2000:]}")
        return elapsed

    def scenario_pipeline(self, redis):
        n = self.args.n_synthetic or (100_000 if self.quick else 1_000_000)
        log(f"scenario 3: pipeline throughput, {n:,} synthetic entries")
        res = {"n": n}
        # listing alone: the same plugin through the same runtime, no store; minus the
        # fixed cost of one process start + plugin load (a 0-entry listing).
        self.listing_alone(0)  # warm the compile cache
        base = [self.listing_alone(0) for _ in range(self.reps)]
        raw = [self.listing_alone(n) for _ in range(self.reps)]
        b = statistics.median(base)
        res["listing"] = Stat([n / max(t - b, 1e-6) for t in raw], "objects/s")
        res["listing_raw_s"] = Stat(raw, "s")
        res["listing_base_s"] = Stat(base, "s")
        log(f"  listing alone: {res['listing'].fmt()} objects/s")
        for store in ("embedded", "redis"):
            rates, durations, hwms = [], [], []
            for i in range(self.reps):
                elapsed, job, hwm, _ = self.pipeline_run(n, redis if store == "redis" else None)
                rates.append(n / elapsed)
                durations.append(elapsed)
                hwms.append(hwm)
                log(f"  {store} #{i + 1}: {elapsed:.2f}s ({n / elapsed:,.0f} objects/s, "
                    f"{job['metrics']['batches_created']} batches, peak RSS {hwm / 1024:.1f} MiB)")
            res[store] = Stat(rates, "objects/s")
            res[store + "_s"] = Stat(durations, "s")
            res[store + "_hwm"] = Stat([h / 1024 for h in hwms], "MiB", False)
        # redis-benchmark on the same Redis.
        reqs = 1_000_000 if not self.quick else 300_000
        ops = []
        for _ in range(self.reps):
            out = subprocess.run(["redis-benchmark", "-p", str(redis.port), "-P", "100", "-t", "set",
                                  "-n", str(reqs), "-q", "--csv"], capture_output=True, text=True, check=True)
            row = [l for l in out.stdout.splitlines() if l.startswith('"SET"')][0]
            ops.append(float(row.split(",")[1].strip('"')))
        redis.flush()
        res["redis_benchmark"] = Stat(ops, "ops/s")
        log(f"  redis-benchmark -P 100 SET: {res['redis_benchmark'].fmt()} ops/s")
        self.results["pipeline"] = res

    # 4. memory -------------------------------------------------------------
    def scenario_memory(self):
        small, large = (10_000, 100_000) if self.quick else (100_000, 1_000_000)
        if self.args.n_synthetic:
            small, large = self.args.n_synthetic // 10, self.args.n_synthetic
        log(f"scenario 4: peak RSS, {small:,} vs {large:,} synthetic entries (embedded store)")
        res = {"n_small": small, "n_large": large}
        pipe = self.results.get("pipeline")
        for key, n in (("small", small), ("large", large)):
            if pipe and pipe["n"] == n and "embedded_hwm" in pipe:
                res[key] = pipe["embedded_hwm"]
                continue
            hwms, idle = [], []
            for _ in range(self.reps):
                _, _, hwm, before = self.pipeline_run(n)
                hwms.append(hwm / 1024)
                idle.append(before / 1024)
            res[key] = Stat(hwms, "MiB", False)
            res[key + "_idle"] = Stat(idle, "MiB", False)
        log(f"  peak RSS {small:,}: {res['small'].fmt()} MiB, {large:,}: {res['large'].fmt()} MiB")
        self.results["memory"] = res

    # 6. plugin start -------------------------------------------------------
    def scenario_start(self):
        log("scenario 6: plugin start (cold = empty compile cache, warm = cached)")
        res = {"plugins": sorted(p.stem for p in self.plugins.glob("*.wasm"))}
        cold, warm = [], []
        for _ in range(self.reps):
            data = Path(tempfile.mkdtemp(prefix="start-", dir=self.work))
            s = Server(self.work, self.plugins, data_dir=data)
            cold.append(s.startup_s * 1000)
            s.close()
            s = Server(self.work, self.plugins, data_dir=data)
            warm.append(s.startup_s * 1000)
            s.close()
            shutil.rmtree(data, ignore_errors=True)
        res["cold"] = Stat(cold, "ms", False)
        res["warm"] = Stat(warm, "ms", False)
        # Per-job cost on a warm server: a 0-entry synthetic sync end to end
        # (trigger → COMPLETED includes lock, store writes, the instance and the
        # job's own bookkeeping) and the job's own duration_ms.
        s = Server(self.work, self.plugins)
        try:
            bucket, sync = s.setup_sync("synthetic", {"count": 0})
            s.run_sync(bucket, sync)
            e2e, own = [], []
            for _ in range(20 if self.quick else 50):
                t, job = s.run_sync(bucket, sync)
                e2e.append(t * 1000)
                own.append(job["metrics"]["duration_ms"])
            res["job_e2e"] = Stat(e2e, "ms", False)
            res["job_own"] = Stat(own, "ms", False)
        finally:
            s.close()
        # In-process instantiate time, measured by the native bench helper.
        native = native_helper()
        if native:
            out = subprocess.run([native, "instantiate", "--plugins-dir", str(self.plugins),
                                  "--iterations", "2000"], capture_output=True, text=True)
            if out.returncode == 0:
                data = json.loads(out.stdout.strip().splitlines()[-1])
                res["instantiate_us"] = Stat(data["open_listing_us"], "µs", False)
            else:
                self.notes["start"] = f"native helper failed: {out.stderr[-500:]}"
        log(f"  cold {res['cold'].fmt()} ms, warm {res['warm'].fmt()} ms, 0-entry job "
            f"{res['job_e2e'].fmt()} ms end to end")
        self.results["start"] = res

    # 5. API latency ----------------------------------------------------------
    def wrk(self, port, path, method="GET", seconds=5, connections=8):
        script = self.work / f"wrk-{method}.lua"
        script.write_text(
            f'wrk.method = "{method}"\n'
            f'wrk.headers["Authorization"] = "Bearer {ADMIN_KEY}"\n'
            'done = function(summary, latency, requests)\n'
            '  io.write(string.format("JSON {\\"p50\\": %f, \\"p99\\": %f, \\"requests\\": %d, '
            '\\"errors\\": %d, \\"non2xx\\": %d, \\"duration_us\\": %d}\\n", latency:percentile(50), '
            'latency:percentile(99), summary.requests, summary.errors.connect + summary.errors.read + '
            'summary.errors.write + summary.errors.timeout, summary.errors.status, summary.duration))\n'
            'end\n')
        out = subprocess.run(["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "-s", str(script),
                              f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True)
        line = [l for l in out.stdout.splitlines() if l.startswith("JSON ")][0]
        return json.loads(line[5:])

    def scenario_api(self, redis):
        seconds = 2 if self.quick else 10
        reps = min(self.reps, 2) if self.quick and not self.args.reps else self.reps
        log(f"scenario 5: API latency with wrk ({seconds}s per run, 8 connections, {reps} runs)")
        res = {}
        for store in ("embedded", "redis"):
            s = Server(self.work, self.plugins, redis=redis if store == "redis" else None)
            try:
                bucket, sync = s.setup_sync("synthetic", {"count": 0})
                _, job = s.run_sync(bucket, sync)
                routes = {
                    "healthz": ("GET", "/healthz"),
                    "get_job": ("GET", f"/v1/syncs/{job['sync_job_id']}"),
                    "trigger": ("POST", f"/v1/buckets/{bucket}/syncs/{sync}/trigger?full_sync=false"),
                }
                for name, (method, path) in routes.items():
                    p50, p99, rps, bad = [], [], [], 0
                    for _ in range(reps):
                        r = self.wrk(s.port, path, method, seconds)
                        p50.append(r["p50"] / 1000)
                        p99.append(r["p99"] / 1000)
                        rps.append(r["requests"] / (r["duration_us"] / 1e6))
                        bad += r["errors"] + r["non2xx"]
                    res[f"{store}_{name}"] = {"p50": Stat(p50, "ms", False), "p99": Stat(p99, "ms", False),
                                              "rps": Stat(rps, "req/s"), "bad": bad}
                    log(f"  {store} {name}: p50 {res[f'{store}_{name}']['p50'].fmt()} ms, "
                        f"p99 {res[f'{store}_{name}']['p99'].fmt()} ms, {statistics.median(rps):,.0f} req/s, {bad} errors")
            finally:
                s.close()
                if store == "redis":
                    redis.flush()
        self.results["api"] = res

    # 1. S3 -----------------------------------------------------------------
    def scenario_s3(self):
        from s3bench import run_s3_scenario  # noqa: local module
        n = self.args.n_s3 or (10_000 if self.quick else 100_000)
        log(f"scenario 1: S3 bucket of {n:,} objects: Tributary sync vs rclone / s5cmd")
        self.results["s3"] = run_s3_scenario(self, n)


def native_helper():
    path = TARGET / "release" / "tributary-bench-native"
    return str(path) if path.exists() else None


def versions(plugins):
    def cmd(*args):
        try:
            out = subprocess.run(list(args), capture_output=True, text=True, timeout=20)
            return (out.stdout or out.stderr).strip().splitlines()[0]
        except Exception as e:  # noqa
            return f"unavailable ({e.__class__.__name__})"
    v = {
        "tributary": cmd(str(binary()), "--version"),
        "git commit": cmd("git", "-C", str(ROOT), "rev-parse", "--short", "HEAD") + (
            " (+ uncommitted changes)" if subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain"],
                                                         capture_output=True, text=True).stdout.strip() else ""),
        "rustc": cmd("rustc", "--version"),
        "redis-server": cmd(tool("redis-server"), "--version"),
        "redis-benchmark": cmd("redis-benchmark", "--version"),
        "wrk": cmd("wrk", "--version"),
        "rclone": cmd("rclone", "--version"),
        "s5cmd": cmd(tool("s5cmd"), "version"),
        "s3rver": "s3rver " + json.loads((BENCH_CACHE / "s3rver/node_modules/s3rver/package.json").read_text())["version"]
        if (BENCH_CACHE / "s3rver/node_modules/s3rver/package.json").exists() else "not installed",
        "s3s-fs": cmd(tool("s3s-fs"), "--version"),
        "node": cmd("node", "--version"),
        "python": sys.version.split()[0],
    }
    return v


def machine():
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024
    return {"cores": os.cpu_count(), "cpu": cpu, "memory": f"{mem / 1024:.1f} GiB",
            "kernel": platform.release(), "os": platform.platform()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes; finishes in under 5 minutes")
    parser.add_argument("--reps", type=int, default=0, help="repetitions per measurement (default 3)")
    parser.add_argument("--only", default="", help="comma-separated scenarios: pipeline,memory,start,api,s3")
    parser.add_argument("--n-synthetic", type=int, default=0, help="override the synthetic size (pipeline; memory uses n/10 and n)")
    parser.add_argument("--n-s3", type=int, default=0, help="override the S3 bucket size")
    parser.add_argument("--plugins-dir", default=str(BENCH_CACHE / "plugins"))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    bench = Bench(args)
    only = set(filter(None, args.only.split(",")))
    want = lambda s: not only or s in only  # noqa: E731
    redis = None
    try:
        redis = Redis(bench.work)
        for name, fn in (("pipeline", lambda: bench.scenario_pipeline(redis)),
                         ("memory", bench.scenario_memory),
                         ("start", bench.scenario_start),
                         ("api", lambda: bench.scenario_api(redis)),
                         ("s3", bench.scenario_s3)):
            if not want(name):
                continue
            t0 = time.time()
            try:
                fn()
            except Exception as e:  # a failed scenario is reported, the others still run
                import traceback
                traceback.print_exc()
                bench.notes[name] = f"failed: {e.__class__.__name__}: {str(e)[:400]}"
            log(f"  ({name}: {time.time() - t0:.0f}s)")
    finally:
        if redis:
            redis.close()
        elapsed = time.time() - bench.t_start
        from report import write_report
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        write_report(bench, out, machine(), versions(bench.plugins), elapsed)
        bench.cleanup()
        log(f"wrote {out / 'latest.md'} and {out / 'throughput.png'} in {elapsed:.0f}s")


if __name__ == "__main__":
    main()
