#!/usr/bin/env python3
"""bench_pyroscope.py - does a slow or dead Pyroscope server slow the profiled program?

    scripts/bench_pyroscope.py [--reps N] [--seconds S]

Runs one workload (python3 with PYTHONMALLOC=malloc, every allocation through the profiler,
about S seconds of dict/JSON/regex work that reports its own duration) under the library at the
default rate in five ways, N times each (default 5), interleaved:
  files    profiler, files only (the baseline: uploads off)
  live     uploads every 0.2 s to a local receiver that accepts them
  refused  uploads to a port nothing listens on (connection refused at once)
  hanging  uploads to a server that accepts connections and never answers (every request runs
           into HEAPSAMPLER_UPLOAD_TIMEOUT, here 1 s)
  slow5xx  uploads to a receiver answering 503 (retries with backoff, queue overflow)
and prints the medians of the workload's own time ("work": what application threads feel), of
the whole run ("wall": including the exit, which waits for the last upload at most
HEAPSAMPLER_UPLOAD_TIMEOUT) and of the CPU time of the process and its threads ("cpu"), each as
a ratio against "files" measured in the same run. The 0.2 s upload interval (75 times the
default's rate) makes the building of uploads visible; on a machine with idle cores it runs
beside the program, on a busy one it competes with it.

Needs build/ (scripts/bootstrap.sh). Ends every server and process it starts.
"""
import argparse
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
from pyroscope_receiver import Receiver  # noqa: E402

BUILD = os.environ.get("HS_BUILD_DIR") or os.path.join(ROOT, "build")
LIB = os.path.join(BUILD, "libheapsampler.so")

WORKLOAD = r"""
import collections, json, re, sys, time
t0 = time.monotonic()
end = t0 + float(sys.argv[1])
n = 0
while time.monotonic() < end:
    d = {str(i): [i, str(i) * 3, {"k": i}] for i in range(2000)}
    s = json.dumps(d)
    collections.Counter(re.findall(r"\w+", s))
    n += 1
print("%d %.6f" % (n, time.monotonic() - t0))
"""


def run_once(mode_env, seconds, outdir):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("HEAPSAMPLER_") and k != "LD_PRELOAD"}
    env.update({"LD_PRELOAD": LIB, "PYTHONMALLOC": "malloc", "HEAPSAMPLER_INTERVAL": "0",
                "HEAPSAMPLER_OUTPUT": os.path.join(outdir, "p"), "NO_PROXY": "127.0.0.1",
                "no_proxy": "127.0.0.1"})
    env.update(mode_env)
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-c", WORKLOAD, str(seconds)], env=env,
                       capture_output=True, text=True, timeout=120)
    wall = time.monotonic() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise SystemExit("workload failed: " + p.stderr)
    iterations, _ = p.stdout.split()
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    # Work: iterations per second, inverted into seconds per 100 iterations (lower is better).
    return 100.0 * seconds / int(iterations), wall, cpu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=2.0)
    args = ap.parse_args()
    if not os.path.exists(LIB):
        sys.exit("bench_pyroscope: %s missing: run scripts/bootstrap.sh" % LIB)

    live = Receiver().start()
    busy = Receiver().start()
    busy.always(503, b"overloaded")
    hang = socket.socket()
    hang.bind(("127.0.0.1", 0))
    hang.listen(256)  # connections complete in the kernel; nothing is ever read or answered
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()  # nothing listens there now

    up = {"HEAPSAMPLER_UPLOAD_INTERVAL": "0.2s", "HEAPSAMPLER_UPLOAD_TIMEOUT": "1s"}
    modes = {
        "files": {},
        "live": dict(up, HEAPSAMPLER_PYROSCOPE_URL=live.url),
        "refused": dict(up, HEAPSAMPLER_PYROSCOPE_URL="http://127.0.0.1:%d" % dead_port),
        "hanging": dict(up, HEAPSAMPLER_PYROSCOPE_URL="http://127.0.0.1:%d"
                        % hang.getsockname()[1]),
        "slow5xx": dict(up, HEAPSAMPLER_PYROSCOPE_URL=busy.url),
    }
    work = {m: [] for m in modes}
    wall = {m: [] for m in modes}
    cpu = {m: [] for m in modes}
    try:
        with tempfile.TemporaryDirectory(prefix="hs-bench-pyro-") as outdir:
            for _ in range(args.reps):
                for m, env in modes.items():
                    w, t, c = run_once(env, args.seconds, outdir)
                    work[m].append(w)
                    wall[m].append(t)
                    cpu[m].append(c)
    finally:
        live.stop()
        busy.stop()
        hang.close()

    base_w = statistics.median(work["files"])
    base_t = statistics.median(wall["files"])
    print("workload: python3 (PYTHONMALLOC=malloc), %.1f s, default rate, medians of %d runs"
          % (args.seconds, args.reps))
    base_c = statistics.median(cpu["files"])
    print("%-8s %12s %8s %8s %8s %8s %8s" % ("mode", "s/100 iter", "work", "wall s", "wall",
                                            "cpu s", "cpu"))
    for m in modes:
        w, t, c = (statistics.median(work[m]), statistics.median(wall[m]),
                   statistics.median(cpu[m]))
        print("%-8s %12.4f %7.3fx %8.2f %7.3fx %8.2f %7.3fx"
              % (m, w, w / base_w, t, t / base_t, c, c / base_c))
        print("BENCH pyroscope mode=%s work_ratio=%.4f wall_ratio=%.4f cpu_ratio=%.4f "
              "work_s_per_100=%.5f wall_s=%.3f cpu_s=%.3f"
              % (m, w / base_w, t / base_t, c / base_c, w, t, c))
    print("uploads accepted by the live receiver: %d; 503 answers given: %d"
          % (live.accepted, len(busy.uploads)))


if __name__ == "__main__":
    main()
