#!/usr/bin/env python3
"""bench.py - heapsampler's overhead benchmark; run it through scripts/bench.sh.

Every figure is measured against a baseline measured in the same run:

* instructions (valgrind --tool=callgrind, deterministic): the churn microbenchmark counts only
  inside its loop, per malloc+free pair over the floor (an interposer that only forwards,
  bench/floor.c); python3 and sqlite3 count the whole process, as a ratio to the floor and the
  floor's ratio to no interposer. These runs fix the sampling seed (HEAPSAMPLER_SEED=1) and
  set HEAPSAMPLER_INTERVAL=1h: under valgrind a program runs some 50 times slower, and the
  default 60 s interval, which these one-second workloads never reach natively, would elapse
  and add a periodic dump (and the writer thread) that the native run does not have;
* wall time: each configuration runs in turn (A B C A B C ...), --runs times after one warm-up
  round; the table shows the median time of each and the median of the paired ratios (round i
  of a configuration over round i of its baseline). Churn times its loop in-process, per
  malloc+free pair (heaptrack, some 30 times slower, runs a twentieth of the pairs); the real
  programs are timed as whole processes;
* one sample (64 frames unwound and recorded), dumps of 10,000 distinct stacks, the longest
  pause an allocating thread sees while dumps run, and the profiler's own memory as it reports
  it (HEAPSAMPLER_VERBOSE=1) beside the growth of the peak RSS;
* the label API (bench/labels.c): heapsampler_label_set as a request handler calls it, clear,
  save+restore, each against an unsampled malloc+free pair timed in the same process, and the
  instructions of one label_set (callgrind).
* the memory limit's watch (section "Memory limit"): its instructions per malloc+free pair
  (churn under callgrind with the watch on, the default, against the watch off), the CPU time
  of its looks in an idle program, the memory a dump needs (the peak RSS growth of a dump of
  10,000 stacks, first and later ones), and the fastest leak that still leaves a profile above
  70% and 80% of a 128 MiB memory cgroup before the OOM killer comes (needs root and a memory
  controller: tests/lib/cgroups.py; n/a otherwise).
* real servers (tests/lib/servers.py, each on a free loopback port in the benchmark's temporary
  directory): redis-server under redis-benchmark (SET and GET), PostgreSQL under pgbench
  (TPC-B-like, started by pg_ctl as the postgres user: needs root) and nginx under wrk (workers
  as nobody when root), each once without the profiler and once with it preloaded at its
  defaults, as a service would run (LD_PRELOAD and HEAPSAMPLER_OUTPUT in its environment). Both
  instances run side by side and the load alternates between them, after a warm-up round; the
  table shows the median throughput of each and the median of the paired ratios.

heaptrack and jemalloc (prof:true,lg_prof_sample:19, against the same jemalloc without
profiling) columns appear when they are installed. The unwinder section (libunwind vs frame
pointers) appears when the library accepts HEAPSAMPLER_UNWIND=fp.

The report (Markdown, ready to paste) goes to stdout, progress to stderr. The exit status is
1 if a run failed or changed a program's output; with --strict also if a deterministic bar
(instructions, memory) is missed. Timings never fail the script.
"""
import argparse
import concurrent.futures
import contextlib
import datetime
import glob
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import unittest

SOURCE = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
PYTHON = "/usr/bin/python3"  # the system interpreter, not a wrapper script
sys.path.insert(0, os.path.join(SOURCE, "tests", "lib"))
import servers  # noqa: E402  (real servers on free loopback ports: the integration tests' own)

# Workload sizes. Full: about 1 s per real-program run and 0.1 s per churn loop natively, so that
# the whole script stays under 10 minutes on 2 cores with every column. Quick: a smoke run.
SIZES = {
    "full": dict(churn_pairs=10000000, churn_cg_pairs=500000, py_rounds=3, py_records=8000,
                 sql_rows=50000, sample_n=20000, labels_n=200000, labels_cg_n=20000, dumps=5,
                 dump_runs=3, pause_ms=1000, pause_runs=3, redis_requests=200000,
                 pgbench_seconds=5, wrk_seconds=3, acct_chunks=2000000, acct_rss_mib=1024,
                 acct_ms=4000, reach_mib=1024),
    "quick": dict(churn_pairs=40000, churn_cg_pairs=20000, py_rounds=1, py_records=200,
                  sql_rows=500, sample_n=500, labels_n=2000, labels_cg_n=1000, dumps=2,
                  dump_runs=1, pause_ms=100, pause_runs=1, redis_requests=10000,
                  pgbench_seconds=1, wrk_seconds=1, acct_chunks=20000, acct_rss_mib=16,
                  acct_ms=200, reach_mib=64),
}
SAMPLE_DEPTH = 70  # recursion depth of hs_bench_sample: 64 frames are captured
OOM_LIMIT = 128 << 20
# Leak rates tried in the memory cgroup, MiB/s (0: as fast as the leaker can), and runs of each.
OOM_RATES = {"full": [64, 128, 256, 512, 1024, 2048, 0], "quick": [256, 0]}
OOM_RUNS = {"full": 3, "quick": 1}
WATCH_SECONDS = {"full": 10, "quick": 1}
WATCH_OFF = {"HEAPSAMPLER_MEMORY_THRESHOLDS": "off", "HEAPSAMPLER_PEAK_STEP": "0"}
JEMALLOC_PROF = "prof:true,lg_prof_sample:19"
MIB = 1 << 20

# Bars (the issue's, at the default rate).
BAR_PAIR_INSTR = 15.0
BAR_REAL_INSTR = 1.015
BAR_CHURN_WALL = 1.03
BAR_REAL_WALL = 1.05
BAR_SAMPLE_US = 5.0
BAR_LABEL_NS = 300.0
BAR_DUMP_MS = 50.0
BAR_MEMORY = 32 * MIB
BAR_SERVER = 0.97  # throughput, heapsampler / no profiler, at least

# The real servers' rows: key, label of the workload.
SERVER_ROWS = (("redis-set", "redis-benchmark SET"), ("redis-get", "redis-benchmark GET"),
               ("pgbench", "pgbench (TPC-B-like)"), ("nginx", "wrk against nginx"))


START = time.monotonic()


def log(msg):
    print("bench: [%4.0f s] %s" % (time.monotonic() - START, msg), file=sys.stderr, flush=True)


class Failure(Exception):
    pass


class Bench:
    def __init__(self, args):
        self.args = args
        self.build = os.path.abspath(args.build_dir)
        self.size = SIZES["quick" if args.quick else "full"]
        self.runs = args.runs or (2 if args.quick else 5)
        self.tmp = tempfile.mkdtemp(prefix="hs-bench-")
        self.lib = os.path.join(self.build, "libheapsampler.so")
        self.floor = os.path.join(self.build, "bench", "libhs_floor.so")
        self.churn = os.path.join(self.build, "bench", "hs_bench_churn")
        self.sample = os.path.join(self.build, "bench", "hs_bench_sample")
        self.dumpb = os.path.join(self.build, "bench", "hs_bench_dump")
        self.rss = os.path.join(self.build, "bench", "hs_bench_rss")
        self.labels = os.path.join(self.build, "bench", "hs_bench_labels")
        self.watchb = os.path.join(self.build, "bench", "hs_bench_watch")
        self.reachb = os.path.join(self.build, "bench", "hs_bench_reach")
        self.leaker = os.path.join(self.build, "tests", "hs_target_leaker")
        for f in (self.lib, self.floor, self.churn, self.sample, self.dumpb, self.rss,
                  self.labels, self.watchb, self.reachb):
            if not os.path.exists(f):
                raise Failure("%s is not built (run scripts/bench.sh without --no-build)" % f)
        self.sqlite = shutil.which("sqlite3")
        self.failures = []
        self.missed = []  # deterministic bars missed
        self.detect_tools()

    # ---- environment -------------------------------------------------------------------------

    def detect_tools(self):
        self.valgrind = shutil.which("valgrind")
        self.heaptrack = shutil.which("heaptrack")
        self.jemalloc = None
        self.jemalloc_note = "not installed (Debian libjemalloc2)"
        for path in ("/usr/lib/x86_64-linux-gnu/libjemalloc.so.2", "/usr/lib/libjemalloc.so.2"):
            if os.path.exists(path):
                self.jemalloc = path
                break
        if self.jemalloc:
            # A jemalloc built without --enable-prof rejects the option on stderr.
            p = subprocess.run(["/bin/true"], env=self.env({"LD_PRELOAD": self.jemalloc,
                                                             "MALLOC_CONF": JEMALLOC_PROF}),
                               capture_output=True, text=True)
            self.jemalloc_prof = "Invalid conf" not in p.stderr
            self.jemalloc_note = ("%s (built with profiling)" % self.jemalloc
                                  if self.jemalloc_prof else
                                  "%s is built WITHOUT profiling: no jemalloc-prof column"
                                  % self.jemalloc)
        else:
            self.jemalloc_prof = False
        # The frame-pointer unwinder: accepted iff the verbose configuration echoes it.
        p = subprocess.run(["/bin/true"], env=self.env(self.hs_env(HEAPSAMPLER_UNWIND="fp",
                                                                   HEAPSAMPLER_VERBOSE="1")),
                           capture_output=True, text=True)
        self.fp = (re.search(r"config HEAPSAMPLER_UNWIND=fp\b", p.stderr) is not None and
                   "ignoring" not in p.stderr)

    @staticmethod
    def env(extra=None):
        """The caller's environment without anything that changes the allocator, plus extra."""
        e = {k: v for k, v in os.environ.items()
             if not k.startswith("HEAPSAMPLER_") and k not in
             ("LD_PRELOAD", "MALLOC_CONF", "PYTHONMALLOC", "MALLOC_ARENA_MAX")}
        e.update(extra or {})
        return e

    def hs_env(self, **extra):
        out = os.path.join(self.tmp, "prof")
        os.makedirs(out, exist_ok=True)
        e = {"LD_PRELOAD": self.lib, "HEAPSAMPLER_OUTPUT": out + "/"}
        e.update(extra)
        return e

    def configs(self):
        """Wall-time configurations: name -> (argv prefix, environment additions)."""
        c = {"none": ([], {}), "floor": ([], {"LD_PRELOAD": self.floor}),
             "heapsampler": ([], self.hs_env())}
        if self.jemalloc:
            c["jemalloc"] = ([], {"LD_PRELOAD": self.jemalloc})
            if self.jemalloc_prof:
                c["jemalloc-prof"] = ([], {"LD_PRELOAD": self.jemalloc,
                                           "MALLOC_CONF": JEMALLOC_PROF})
        if self.heaptrack:
            c["heaptrack"] = ([self.heaptrack, "-o", os.path.join(self.tmp, "ht", "ht")], {})
        return c

    # ---- workloads ---------------------------------------------------------------------------

    def workloads(self):
        s = self.size
        sql = os.path.join(self.tmp, "workload.sql")
        if not os.path.exists(sql):
            with open(sql, "w") as f:
                subprocess.run([PYTHON, os.path.join(SOURCE, "bench", "gen_sql.py"),
                                str(s["sql_rows"])], stdout=f, check=True)
        w = {
            "churn1": dict(argv=[self.churn, "1", str(s["churn_pairs"])], inproc=1,
                           label="churn, 1 thread"),
            "churn2": dict(argv=[self.churn, "2", str(s["churn_pairs"])], inproc=2,
                           label="churn, 2 threads"),
            "python": dict(argv=[PYTHON, os.path.join(SOURCE, "bench", "workload.py"),
                                 str(s["py_rounds"]), str(s["py_records"])],
                           env={"PYTHONMALLOC": "malloc", "PYTHONHASHSEED": "0"},
                           label="python3 (PYTHONMALLOC=malloc)"),
        }
        if self.sqlite:
            w["sqlite"] = dict(argv=[self.sqlite, ":memory:"], stdin=sql,
                               label="sqlite3 in-memory")
        return w

    def run(self, argv, env, stdin=None, timeout=600):
        """Run to completion: (seconds, stdout, stderr)."""
        out = tempfile.TemporaryFile(dir=self.tmp)
        err = tempfile.TemporaryFile(dir=self.tmp)
        fin = open(stdin) if stdin else subprocess.DEVNULL
        try:
            t0 = time.perf_counter()
            p = subprocess.Popen(argv, env=env, stdin=fin, stdout=out, stderr=err)
            killer = threading.Timer(timeout, p.kill)
            killer.start()
            p.wait()
            secs = time.perf_counter() - t0
            killer.cancel()
        finally:
            if stdin:
                fin.close()
        out.seek(0)
        err.seek(0)
        o, e = out.read().decode(errors="replace"), err.read().decode(errors="replace")
        out.close()
        err.close()
        if p.returncode != 0:
            raise Failure("%s exited with %d: %s" % (" ".join(argv), p.returncode, e[-2000:]))
        self.clean_outputs()
        return secs, o, e

    def clean_outputs(self):
        for d in ("prof", "ht"):
            path = os.path.join(self.tmp, d)
            shutil.rmtree(path, ignore_errors=True)
            os.makedirs(path, exist_ok=True)

    # ---- wall time ---------------------------------------------------------------------------

    def wall(self):
        configs = self.configs()
        self.wall_res = {}
        self.cpu_res = {}  # churn: CPU time of the loops per pair (leaves out preemption)
        for key, wl in self.workloads().items():
            times = {c: [] for c in configs}
            cpu = {c: [] for c in configs}
            reference = None
            for rnd in range(self.runs + 1):  # round 0 warms caches up and is not counted
                log("wall time: %s, %s" % (key, "round %d/%d" % (rnd, self.runs) if rnd
                                           else "warm-up"))
                for c, (prefix, extra) in configs.items():
                    env = self.env(dict(wl.get("env", {}), **extra))
                    argv = list(wl["argv"])
                    pairs = 0
                    if wl.get("inproc"):
                        if c == "heaptrack":
                            argv[-1] = str(max(1000, int(argv[-1]) // 20))
                        pairs = wl["inproc"] * int(argv[-1])
                    secs, out, _ = self.run(prefix + argv, env, wl.get("stdin"))
                    if pairs:
                        m = re.search(r" ns=(\d+) cpu_ns=(\d+)", out)
                        if not m:
                            raise Failure("%s printed no time: %r" % (key, out))
                        secs = int(m.group(1)) / 1e9 / pairs  # seconds per pair
                        if rnd:
                            cpu[c].append(int(m.group(2)) / 1e9 / pairs)
                        out = re.sub(r"pairs=\d+ ns=\d+ cpu_ns=\d+", "", out)
                    if reference is None:
                        reference = out
                    elif (out != reference if c != "heaptrack" else reference not in out):
                        self.failures.append("%s under %s changed the output: %r" %
                                             (key, c, out[-300:]))
                    if rnd:
                        times[c].append(secs)
            self.wall_res[key] = times
            if wl.get("inproc"):
                self.cpu_res[key] = cpu

    @staticmethod
    def paired(times, config, base):
        """Median of the per-round ratios config/base."""
        if config not in times or base not in times:
            return None
        return statistics.median(a / b for a, b in zip(times[config], times[base]))

    # ---- real servers ------------------------------------------------------------------------

    def server_env(self, config):
        """A server's environment: nothing, or the library at its defaults, as a service's."""
        if config == "none":
            return self.env()
        out = os.path.join(self.tmp, "server-prof")
        if not os.path.isdir(out):
            os.makedirs(out)
            os.chmod(out, 0o1777)  # workers that switch users write there too
        return self.env({"LD_PRELOAD": self.lib, "HEAPSAMPLER_OUTPUT": out + "/"})

    def server_rounds(self, keys, start, measure):
        """start(config, workdir) gives a context manager of a running server; measure(server)
        its throughput per key. Both configurations run side by side, the load alternates
        between them, after a warm-up round."""
        try:
            with contextlib.ExitStack() as stack:
                running = {}
                for c in ("none", "heapsampler"):
                    workdir = os.path.join(self.tmp, "%s-%s" % (keys[0], c))
                    os.makedirs(workdir)
                    running[c] = stack.enter_context(start(c, workdir))
                res = {k: {c: [] for c in running} for k in keys}
                for rnd in range(self.runs + 1):
                    log("real servers: %s, %s" % (keys[0], "round %d/%d" % (rnd, self.runs)
                                                  if rnd else "warm-up"))
                    for c, server in running.items():
                        got = measure(server)
                        if rnd:
                            for k in keys:
                                res[k][c].append(got[k])
                self.server_res.update(res)
        except unittest.SkipTest as e:
            for k in keys:
                self.server_note[k] = str(e)
        except (AssertionError, OSError, subprocess.SubprocessError) as e:
            self.failures.append("%s: %s" % (keys[0], e))
            for k in keys:
                self.server_note[k] = "failed: see the log"

    def servers(self):
        self.server_res, self.server_note = {}, {}
        s = self.size
        os.chmod(self.tmp, 0o711)  # the servers' users reach their directories below it

        def redis(r):
            rows = {}
            for line in r.benchmark("-t", "set,get", "-n", s["redis_requests"], "-r", "100000",
                                    "-d", "64", "-c", "50").splitlines()[1:]:
                cells = [c.strip('"') for c in line.split(",")]
                rows[cells[0]] = float(cells[1])
            return {"redis-set": rows["SET"], "redis-get": rows["GET"]}
        self.server_rounds(("redis-set", "redis-get"),
                           lambda c, d: servers.Redis(d, env=self.server_env(c)), redis)

        @contextlib.contextmanager
        def postgres(c, d):
            if os.geteuid() != 0:
                raise unittest.SkipTest("needs root: pg_ctl runs as the postgres user")
            with servers.Postgres(d, env=self.server_env(c)) as pg:
                pg.pgbench("-i", "-s", "1", "-q")
                yield pg

        def pgbench(pg):
            out = pg.pgbench("-c", "4", "-j", "2", "-T", s["pgbench_seconds"])
            m = re.search(r"^tps = ([\d.]+)", out, re.M)
            if not m:
                raise AssertionError("pgbench printed no tps:\n" + out)
            return {"pgbench": float(m.group(1))}
        self.server_rounds(("pgbench",), postgres, pgbench)

        self.server_rounds(
            ("nginx",), lambda c, d: servers.Nginx(d, env=self.server_env(c), workers=2),
            lambda n: {"nginx": servers.wrk(n.url(), seconds=s["wrk_seconds"])})

    def server_versions(self):
        out = []
        for argv, pat in ((["redis-server", "--version"], r"v=(\S+)"),
                          ([os.path.join(servers.PG_BIN, "postgres"), "--version"],
                           r"(\d+\.\d+)"),
                          (["nginx", "-v"], r"nginx/(\S+)")):
            try:
                p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
                m = re.search(pat, p.stdout + p.stderr)
                out.append("%s %s" % (os.path.basename(argv[0]), m.group(1) if m else "?"))
            except OSError:
                out.append("%s not installed" % os.path.basename(argv[0]))
        return ", ".join(out)

    # ---- instructions ------------------------------------------------------------------------

    def callgrind(self, argv, env, stdin=None, collect=None):
        out = os.path.join(self.tmp, "cg.%d.%d" % (os.getpid(), id(argv)))
        cmd = [self.valgrind, "--tool=callgrind", "--callgrind-out-file=" + out]
        if collect:
            cmd.append("--toggle-collect=" + collect)
        _, _, err = self.run(cmd + argv, env, stdin, timeout=900)
        if os.path.exists(out):
            os.unlink(out)
        m = re.findall(r"Collected : (\d+)", err)
        if not m:
            raise Failure("callgrind reported no count for %s" % " ".join(argv))
        return int(m[-1])

    def instructions(self):
        self.instr = {}
        if not self.valgrind:
            return
        s = self.size
        wl = self.workloads()
        jobs = {}
        fixed = {"HEAPSAMPLER_SEED": "1", "HEAPSAMPLER_INTERVAL": "1h"}  # see the file comment
        cfg = {"none": {}, "floor": {"LD_PRELOAD": self.floor}, "heapsampler": self.hs_env(**fixed)}
        if self.fp:
            cfg["heapsampler-fp"] = self.hs_env(HEAPSAMPLER_UNWIND="fp", **fixed)
        for t in (1, 2):
            for c, e in cfg.items():
                jobs[("churn%d" % t, c)] = ([self.churn, str(t), str(s["churn_cg_pairs"])],
                                            self.env(e), None, "churn_loop")
        # The memory watch off: what it adds to a pair (nothing but on the slow path).
        jobs[("churn1", "heapsampler-nowatch")] = (
            [self.churn, "1", str(s["churn_cg_pairs"])],
            self.env(self.hs_env(**dict(fixed, **WATCH_OFF))), None, "churn_loop")
        for key in ("python", "sqlite"):
            if key not in wl:
                continue
            for c in ("none", "floor", "heapsampler"):
                jobs[(key, c)] = (wl[key]["argv"], self.env(dict(wl[key].get("env", {}),
                                                                  **cfg[c])),
                                  wl[key].get("stdin"), None)
        sample_cfg = {"floor": cfg["floor"],
                      "heapsampler": self.hs_env(HEAPSAMPLER_RATE="1", **fixed)}
        if self.fp:
            sample_cfg["heapsampler-fp"] = self.hs_env(HEAPSAMPLER_RATE="1",
                                                       HEAPSAMPLER_UNWIND="fp", **fixed)
        for c, e in sample_cfg.items():
            jobs[("sample", c)] = ([self.sample, str(SAMPLE_DEPTH), str(s["sample_n"])],
                                   self.env(e), None, "sample_alloc")
        jobs[("labels", "heapsampler")] = ([self.labels, str(s["labels_cg_n"])],
                                           self.env(cfg["heapsampler"]), None, "labels_set_loop")
        log("callgrind: %d runs, 2 at a time" % len(jobs))
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            futs = {k: pool.submit(self.callgrind, *v) for k, v in jobs.items()}
            for k, f in futs.items():
                self.instr[k] = f.result()
                log("callgrind %s %s: %d" % (k[0], k[1], self.instr[k]))

    # ---- sample, dumps, pauses, memory -------------------------------------------------------

    def sample_cost(self):
        cfg = {"floor": {"LD_PRELOAD": self.floor},
               "heapsampler": self.hs_env(HEAPSAMPLER_RATE="1")}
        if self.fp:
            cfg["heapsampler-fp"] = self.hs_env(HEAPSAMPLER_RATE="1", HEAPSAMPLER_UNWIND="fp")
        res = {c: {"malloc": [], "free": []} for c in cfg}
        argv = [self.sample, str(SAMPLE_DEPTH), str(self.size["sample_n"])]
        for rnd in range(self.runs):
            log("sample: round %d/%d" % (rnd + 1, self.runs))
            for c, e in cfg.items():
                _, out, _ = self.run(argv, self.env(e))
                m = re.search(r"malloc_median_ns=(\d+) .*free_median_ns=(\d+)", out)
                if not m:
                    raise Failure("hs_bench_sample printed %r" % out)
                res[c]["malloc"].append(int(m.group(1)))
                res[c]["free"].append(int(m.group(2)))
        self.sample_res = res

    def label_cost(self):
        res = {"set": [], "clear": [], "restore": [], "pair": []}
        for rnd in range(self.runs):
            log("labels: round %d/%d" % (rnd + 1, self.runs))
            _, out, _ = self.run([self.labels, str(self.size["labels_n"])],
                                 self.env(self.hs_env()))
            m = re.search(r"set_ns=([\d.]+) clear_ns=([\d.]+) restore_ns=([\d.]+) "
                          r"pair_ns=([\d.]+)", out)
            if not m:
                raise Failure("hs_bench_labels printed %r" % out)
            for k, v in zip(("set", "clear", "restore", "pair"), m.groups()):
                res[k].append(float(v))
        self.label_res = res

    def dumps(self):
        firsts, medians, maxes, stacks, cpu_medians, cpu_slowest = [], [], [], [], [], []
        for rnd in range(self.size["dump_runs"]):
            log("dump round %d/%d" % (rnd + 1, self.size["dump_runs"]))
            _, out, _ = self.run([self.dumpb, "dump", str(self.size["dumps"])],
                                    self.env(self.hs_env()))
            m = re.search(r"stacks=(\d+) first_ms=([\d.]+) median_ms=([\d.]+) max_ms=([\d.]+) "
                          r"cpu_first_ms=([\d.]+) cpu_median_ms=([\d.]+) cpu_max_ms=([\d.]+)",
                          out)
            if not m:
                raise Failure("hs_bench_dump printed %r" % out)
            stacks.append(int(m.group(1)))
            firsts.append(float(m.group(2)))
            medians.append(float(m.group(3)))
            maxes.append(float(m.group(4)))
            cpu_medians.append(float(m.group(6)))
            cpu_slowest += [float(m.group(5)), float(m.group(7))]
        self.dump_res = dict(stacks=min(stacks), first=statistics.median(firsts),
                             median=statistics.median(medians),
                             slowest=max(firsts + maxes),
                             cpu_median=statistics.median(cpu_medians),
                             cpu_slowest=max(cpu_slowest))
        _, err = self.peak_rss([self.dumpb, "dump", "1"],
                               self.env(self.hs_env(HEAPSAMPLER_VERBOSE="1")))
        self.dump_res["memory"] = self.reported_memory(err)

    def pauses(self):
        keys = ("quiet_max_us", "quiet_blocked_max_us", "quiet_p999_us", "dumping_max_us",
                "dumping_blocked_max_us", "dumping_p999_us", "dumps")
        res = {k: 0.0 for k in keys}
        for rnd in range(self.size["pause_runs"]):
            log("pause round %d/%d" % (rnd + 1, self.size["pause_runs"]))
            _, out, _ = self.run([self.dumpb, "pause", "1", str(self.size["pause_ms"])],
                                    self.env(self.hs_env()))
            vals = dict(re.findall(r"(\w+)=([\d.]+)", out))
            for k in keys:
                if k not in vals:
                    raise Failure("hs_bench_dump pause printed %r" % out)
                res[k] = res[k] + float(vals[k]) if k == "dumps" else max(res[k], float(vals[k]))
        self.pause_res = res

    def reconciliation(self):
        """The accounting of each real program's exit profile (default settings): its RSS, the
        unattributed rest (README.md, Where the memory goes) and the coverage audit."""
        log("reconciliation")
        w = self.workloads()
        progs = [("python3", [PYTHON, os.path.join(SOURCE, "bench", "workload.py"),
                              str(self.size["py_rounds"]), str(self.size["py_records"])], None),
                 ("demo server", [os.path.join(self.build, "hs_demo_server"), "--seconds", "2"],
                  None)]
        if "sqlite" in w:
            progs.insert(1, ("sqlite3", w["sqlite"]["argv"], w["sqlite"]["stdin"]))
        self.recon_res = []
        for name, argv, stdin in progs:
            out = os.path.join(self.tmp, "recon-" + name.replace(" ", "_"))
            os.makedirs(out, exist_ok=True)
            self.run(argv, self.env(self.hs_env(HEAPSAMPLER_OUTPUT=out + "/")), stdin=stdin)
            files = sorted(glob.glob(os.path.join(out, "*.pb.gz")),
                           key=lambda f: os.path.getsize(f))
            if not files:
                raise Failure("no profile from %s" % name)
            rep = subprocess.run([os.path.join(self.build, "heapsampler"), "report", "--json",
                                  files[-1]], capture_output=True, text=True)
            mem = json.loads(rep.stdout)["memory"]
            self.recon_res.append((name, mem))

    def accounting_pauses(self):
        """The memory accounting of every dump on its worst heap: glibc's mallinfo2 walks
        every free chunk under the arena's lock, so two million chunks that cannot merge, 1 GiB
        resident, and MALLOC_ARENA_MAX=1 so that the churning threads share that arena. Long
        enough that the spaced walks (alloc_stats.h) run during the dumps; each source timed
        once on its own."""
        log("accounting pauses")
        sz = self.size
        _, out, _ = self.run([self.dumpb, "pause", "1", str(sz["acct_ms"]), str(sz["acct_chunks"]),
                              str(sz["acct_rss_mib"])],
                             self.env(dict(self.hs_env(), MALLOC_ARENA_MAX="1")))
        vals = dict(re.findall(r"(\w+)=([\d.]+)", out))
        for k in ("mallinfo2_us", "status_us", "smaps_rollup_us", "dumping_blocked_max_us",
                  "quiet_blocked_max_us", "dumps"):
            if k not in vals:
                raise Failure("hs_bench_dump pause (accounting) printed %r" % out)
        self.acct_res = {k: float(v) for k, v in vals.items()}

    # ---- the memory limit --------------------------------------------------------------------

    def watch_cost(self):
        """CPU time of the watch's looks in an idle program holding 40 MiB: in the close range
        (a 50 MiB limit, the one threshold at 95%), far from it (400 MiB), and off."""
        secs = WATCH_SECONDS["quick" if self.args.quick else "full"]
        cfgs = {"close": {"HEAPSAMPLER_MEMORY_LIMIT": "50M",
                          "HEAPSAMPLER_MEMORY_THRESHOLDS": "95", "HEAPSAMPLER_PEAK_STEP": "0"},
                "far": {"HEAPSAMPLER_MEMORY_LIMIT": "400M", "HEAPSAMPLER_MEMORY_THRESHOLDS": "95",
                        "HEAPSAMPLER_PEAK_STEP": "0"},
                "off": dict(WATCH_OFF, HEAPSAMPLER_MEMORY_LIMIT="50M")}
        self.watch_res = {}
        for name, extra in cfgs.items():
            log("memory watch: %s, %d s" % (name, secs))
            _, out, _ = self.run([self.watchb, "40", str(secs)], self.env(self.hs_env(**extra)))
            m = re.search(r"cpu_us=(\d+) seconds=([\d.]+)", out)
            if not m:
                raise Failure("hs_bench_watch printed %r" % out)
            self.watch_res[name] = int(m.group(1)) / float(m.group(2))  # us of CPU per second

    def reach_cost(self):
        """The reachability scan at exit of a heap of pointers (hs_bench_reach): its speed from
        the exit profile's figures, and the process's wall time with the scan over without it
        (HEAPSAMPLER_REACH=exit / off, interleaved runs, median of paired ratios)."""
        mib = self.size["reach_mib"]
        times = {"exit": [], "off": []}
        scans = []
        for i in range(self.runs):
            for mode in ("exit", "off"):
                log("reachability scan: %d MiB heap, REACH=%s, run %d" % (mib, mode, i + 1))
                secs, _, err = self.run([self.reachb, str(mib)], self.env(self.hs_env(
                    HEAPSAMPLER_REACH=mode, HEAPSAMPLER_VERBOSE="1")))
                times[mode].append(secs)
                m = re.search(r"reach\.bytes=(\d+) .*reach\.time_ms=([\d.]+) "
                              r"reach\.lock_max_us=([\d.]+)", err)
                if mode == "exit":
                    if not m:
                        raise Failure("no reach figures in %r" % err[-1000:])
                    scans.append((int(m.group(1)), float(m.group(2)), float(m.group(3))))
        ratios = [a / b for a, b in zip(times["exit"], times["off"])]
        self.reach_res = dict(
            mib=mib, bytes=statistics.median(b for b, _, _ in scans),
            ms=statistics.median(t for _, t, _ in scans),
            gbps=statistics.median(b / t / 1e6 for b, t, _ in scans),
            lock_us=max(u for _, _, u in scans),
            extra=statistics.median(a - b for a, b in zip(times["exit"], times["off"])),
            ratio=statistics.median(ratios), off=statistics.median(times["off"]))

    def dump_memory(self):
        """The peak RSS growth of dumps of 10,000 stacks (hs_bench_dump memory)."""
        self.dump_mem_res = {}
        for level in ("functions", "lines"):
            log("dump memory, symbolize=%s" % level)
            _, out, _ = self.run([self.dumpb, "memory", str(self.size["dumps"])],
                                 self.env(self.hs_env(HEAPSAMPLER_SYMBOLIZE=level)))
            m = re.search(r"sites=(\d+) first_kib=(-?\d+) later_max_kib=(-?\d+)", out)
            if not m:
                raise Failure("hs_bench_dump memory printed %r" % out)
            self.dump_mem_res[level] = (int(m.group(1)), int(m.group(2)) * 1024,
                                        int(m.group(3)) * 1024)

    def oom_leaks(self):
        """Leaks at increasing rates in a 128 MiB memory cgroup, default settings but a one-hour
        interval: per rate, how many runs left a profile (threshold or peak) recording a
        working set of 70% and 80% of the limit or more, and the highest recorded."""
        self.oom_res, self.oom_note = {}, None
        if not os.path.exists(self.leaker):
            self.oom_note = "%s is not built" % self.leaker
            return
        sys.path.insert(0, os.path.join(SOURCE, "tests", "lib"))
        import cgroups
        import unittest
        mode = "quick" if self.args.quick else "full"
        for rate in OOM_RATES[mode]:
            res = []
            for rnd in range(OOM_RUNS[mode]):
                log("OOM kill: %s MiB/s, run %d/%d" % (rate or "unbounded", rnd + 1,
                                                       OOM_RUNS[mode]))
                out = os.path.join(self.tmp, "oom")
                shutil.rmtree(out, ignore_errors=True)
                os.makedirs(out)
                env = self.env({"LD_PRELOAD": self.lib, "HEAPSAMPLER_OUTPUT": out + "/",
                                "HEAPSAMPLER_INTERVAL": "1h"})
                try:
                    with cgroups.MemoryGroup(OOM_LIMIT) as g:
                        p = subprocess.Popen([self.leaker, "-r", str(rate)], env=env,
                                             preexec_fn=g.join, stdout=subprocess.PIPE,
                                             stderr=subprocess.DEVNULL, text=True)
                        p.stdout.readline()  # "leaker: leaking": from here to the kill
                        t0 = time.monotonic()
                        p.wait(timeout=300)
                        secs = time.monotonic() - t0
                        p.stdout.close()
                        kills = g.oom_kills()
                except unittest.SkipTest as e:
                    self.oom_note = str(e)
                    return
                if p.returncode != -9 or kills < 1:
                    raise Failure("the leaker at %s MiB/s was not killed by the OOM killer "
                                  "(status %d, %d kills)" % (rate, p.returncode, kills))
                res.append((secs, self.highest_usage(out)))
            self.oom_res[rate] = res

    @staticmethod
    def highest_usage(out):
        """The highest memory.usage recorded in the profiles of out, as a share of the limit."""
        best = 0.0
        for f in os.listdir(out):
            if ".tmp." in f or not f.endswith(".pb.gz"):
                continue
            p = subprocess.run(["go", "tool", "pprof", "-comments", os.path.join(out, f)],
                               capture_output=True, text=True)
            m = re.search(r"memory\.usage=(\d+)", p.stdout)
            if m:
                best = max(best, int(m.group(1)) / OOM_LIMIT)
        return best

    def memory_table(self):
        lines = ["| measure | measured |", "|---|---|"]
        if ("churn1", "heapsampler-nowatch") in self.instr:
            d = (self.instr[("churn1", "heapsampler")] -
                 self.instr[("churn1", "heapsampler-nowatch")]) / self.size["churn_cg_pairs"]
            lines.append("| memory watch: instructions per malloc+free pair, on minus off | "
                         "%.3f |" % d)
        else:
            lines.append("| memory watch: instructions per malloc+free pair, on minus off | "
                         "n/a (valgrind not installed) |")
        w = self.watch_res
        lines.append("| memory watch: CPU of its looks, idle program | close range (usage "
                     "steady): %.0f us/s (%.3f%% of a core); far: %.0f us/s; off: %.0f us/s |" % (
                         w["close"], w["close"] / 1e4, w["far"], w["off"]))
        for level, (sites, first, later) in self.dump_mem_res.items():
            lines.append("| dump of %d stacks (symbolize=%s): peak RSS growth | first dump %.1f "
                         "MiB (writer thread, symbol tables); later dumps at most %.2f MiB |" % (
                             sites, level, first / MIB, later / MIB))
        if self.oom_note:
            for pct in (70, 80):
                lines.append("| fastest leak leaving a profile above %d%% of a 128 MiB cgroup, "
                             "every run | n/a (%s) |" % (pct, self.oom_note))
            return lines
        fastest = {70: None, 80: None}
        for rate, res in self.oom_res.items():
            for pct in fastest:
                if all(best >= pct / 100 for _, best in res):
                    mib_s = rate or OOM_LIMIT / MIB / statistics.median(s for s, _ in res)
                    if fastest[pct] is None or mib_s > fastest[pct][0]:
                        fastest[pct] = (mib_s, rate == 0)
        for pct, f in fastest.items():
            val = "none of the rates tried" if f is None else "%.0f MiB/s%s" % (
                f[0], " (as fast as the leaker runs: the limit over the time from its first "
                      "block to the kill)" if f[1] else "")
            lines.append("| fastest leak leaving a profile above %d%% of a 128 MiB cgroup, every "
                         "run | %s |" % (pct, val))
        lines += ["", "| leak rate | runs | killed after (median) | runs with a profile >= 70% "
                  "| >= 80% | highest profile (median) |", "|---|---|---|---|---|---|"]
        for rate, res in self.oom_res.items():
            lines.append("| %s | %d | %.2f s | %d | %d | %.0f%% |" % (
                "%d MiB/s" % rate if rate else "unbounded", len(res),
                statistics.median(s for s, _ in res), sum(b >= 0.7 for _, b in res),
                sum(b >= 0.8 for _, b in res), 100 * statistics.median(b for _, b in res)))
        return lines

    @staticmethod
    def reported_memory(stderr):
        m = re.search(r"profiler memory (\d+) KiB", stderr)
        return int(m.group(1)) * 1024 if m else None

    def peak_rss(self, argv, env, stdin=None):
        """(peak RSS of argv in bytes, its stderr), measured by the small launcher."""
        env = dict(env)
        if "LD_PRELOAD" in env:
            env["HS_BENCH_LD_PRELOAD"] = env.pop("LD_PRELOAD")
        _, _, err = self.run([self.rss] + argv, env, stdin)
        return int(re.findall(r"peak_rss_kib=(\d+)", err)[-1]) * 1024, err

    def memory(self):
        """Self-reported profiler memory, and the growth of the peak RSS over no profiler."""
        self.mem_res = {}
        for key, wl in self.workloads().items():
            if key.startswith("churn"):
                continue
            log("memory %s" % key)
            base, _ = self.peak_rss(wl["argv"], self.env(wl.get("env", {})), wl.get("stdin"))
            env = self.env(dict(wl.get("env", {}), **self.hs_env(HEAPSAMPLER_VERBOSE="1")))
            peak, err = self.peak_rss(wl["argv"], env, wl.get("stdin"))
            self.mem_res[key] = (self.reported_memory(err), peak - base)

    # ---- report ------------------------------------------------------------------------------

    def header(self):
        cpu = "unknown CPU"
        try:
            with open("/proc/cpuinfo") as f:
                m = re.search(r"model name\s*:\s*(.*)", f.read())
                cpu = m.group(1).strip() if m else cpu
        except OSError:
            pass
        rev = subprocess.run(["git", "-C", SOURCE, "describe", "--always", "--dirty"],
                             capture_output=True, text=True).stdout.strip() or "unknown"
        glibc = " ".join(os.confstr("CS_GNU_LIBC_VERSION").split()) if hasattr(os, "confstr") \
            else "unknown"
        versions = []
        for argv in ([PYTHON, "--version"], [self.sqlite or "sqlite3", "--version"]):
            try:
                v = subprocess.run(argv, capture_output=True, text=True).stdout.split()
                versions.append("%s %s" % (os.path.basename(argv[0]), v[1] if
                                           argv[0] == PYTHON else v[0]))
            except (OSError, IndexError):
                pass
        lines = [
            "## heapsampler benchmark%s" % (" (--quick: a smoke run, figures not meaningful)"
                                            if self.args.quick else ""),
            "",
            "* date: %s" % datetime.datetime.now(datetime.timezone.utc).strftime(
                "%Y-%m-%d %H:%M UTC"),
            "* machine: %s, %d cores, Linux %s, %s; load average at start %.2f" % (
                cpu, os.cpu_count() or 0, platform.release(), glibc, self.load0),
            "* heapsampler %s (%s), default rate (512 KiB); %d interleaved runs per "
            "configuration after a warm-up round" % (rev, self.lib, self.runs),
            "* workloads: churn = %d malloc+free pairs per thread (callgrind: %d), python3 = "
            "bench/workload.py %d rounds x %d records, sqlite3 = bench/gen_sql.py %d rows (%s)" % (
                self.size["churn_pairs"], self.size["churn_cg_pairs"], self.size["py_rounds"],
                self.size["py_records"], self.size["sql_rows"], ", ".join(versions)),
            "* valgrind: %s; heaptrack: %s; jemalloc: %s" % (
                self.valgrind or "not installed (instruction rows n/a)",
                self.heaptrack or "not installed", self.jemalloc_note),
            "* real servers: %s; redis-benchmark %d requests of each test, 50 connections; "
            "pgbench -s 1, 4 clients for %d s; wrk 16 connections for %d s" % (
                self.server_versions(), self.size["redis_requests"],
                self.size["pgbench_seconds"], self.size["wrk_seconds"]),
        ]
        return lines

    def row(self, name, value, bar, met):
        self.rows.append("| %s | %s | %s | %s |" % (name, value, bar, met))

    def verdict(self, ok, deterministic=False, name=""):
        if ok is None:
            return "n/a"
        if not ok and deterministic:
            self.missed.append(name)
        return "yes" if ok else "**no**"

    def bars(self):
        self.rows = ["| bar | measured | limit | met |", "|---|---|---|---|"]
        for t in (1, 2):
            name = "churn, %d thread%s: instructions per malloc+free pair over the floor" % (
                t, "s" if t > 1 else "")
            k = "churn%d" % t
            if ("%s" % k, "heapsampler") in self.instr:
                pairs = t * self.size["churn_cg_pairs"]
                d = (self.instr[(k, "heapsampler")] - self.instr[(k, "floor")]) / pairs
                fl = (self.instr[(k, "floor")] - self.instr[(k, "none")]) / pairs
                self.row(name, "%.1f (the floor itself: %.1f over no interposer)" % (d, fl),
                         "<= %g" % BAR_PAIR_INSTR,
                         self.verdict(d <= BAR_PAIR_INSTR, True, name))
            else:
                self.row(name, "n/a (valgrind not installed)", "<= %g" % BAR_PAIR_INSTR, "n/a")
        for key, label in (("python", "python3"), ("sqlite", "sqlite3")):
            name = "%s: instructions, heapsampler / floor" % label
            if (key, "heapsampler") in self.instr:
                r = self.instr[(key, "heapsampler")] / self.instr[(key, "floor")]
                fl = self.instr[(key, "floor")] / self.instr[(key, "none")]
                self.row(name, "%.4fx (floor / no interposer: %.4fx)" % (r, fl),
                         "<= %gx" % BAR_REAL_INSTR,
                         self.verdict(r <= BAR_REAL_INSTR, True, name))
            else:
                why = "valgrind not installed" if not self.valgrind else "not installed"
                self.row(name, "n/a (%s)" % why, "<= %gx" % BAR_REAL_INSTR, "n/a")
        for key, base, bar in (("churn1", "floor", BAR_CHURN_WALL),
                               ("churn2", "floor", BAR_CHURN_WALL),
                               ("python", "none", BAR_REAL_WALL),
                               ("sqlite", "none", BAR_REAL_WALL)):
            label = {"churn1": "churn, 1 thread", "churn2": "churn, 2 threads",
                     "python": "python3", "sqlite": "sqlite3"}[key]
            name = "%s: wall time, heapsampler / %s" % (
                label, "floor" if base == "floor" else "no profiler")
            if key in self.wall_res:
                r = self.paired(self.wall_res[key], "heapsampler", base)
                extra = ""
                if key in self.cpu_res:
                    extra = " (CPU time of the loop: %.3fx)" % self.paired(self.cpu_res[key],
                                                                         "heapsampler", base)
                self.row(name, "%.3fx%s" % (r, extra), "<= %gx" % bar, self.verdict(r <= bar))
            else:
                self.row(name, "n/a (sqlite3 not installed)", "<= %gx" % bar, "n/a")
        s = self.sample_res
        cost = statistics.median(a - b for a, b in zip(s["heapsampler"]["malloc"],
                                                       s["floor"]["malloc"]))
        instr = ""
        if ("sample", "heapsampler") in self.instr:
            per = (self.instr[("sample", "heapsampler")] - self.instr[("sample", "floor")]) / \
                self.size["sample_n"]
            instr = ", %.0f instructions" % per
        name = "one sample (unwind 64 frames + record): median"
        self.row(name, "%.2f us%s (a sampled malloc %.2f us, the floor's %.2f us)" % (
            cost / 1e3, instr, statistics.median(s["heapsampler"]["malloc"]) / 1e3,
            statistics.median(s["floor"]["malloc"]) / 1e3),
            "< %g us" % BAR_SAMPLE_US, self.verdict(cost / 1e3 < BAR_SAMPLE_US))
        lr = self.label_res
        ls, pair = statistics.median(lr["set"]), statistics.median(lr["pair"])
        instr = ""
        if ("labels", "heapsampler") in self.instr:
            instr = ", %.0f instructions" % (self.instr[("labels", "heapsampler")] /
                                             (self.size["labels_cg_n"] + 8))
        self.row("heapsampler_label_set (a new set, as a request starts): median",
                 "%.0f ns%s (%.1fx an unsampled malloc+free pair, %.1f ns); clear %.1f ns, "
                 "save+restore %.1f ns" % (ls, instr, ls / pair, pair,
                                           statistics.median(lr["clear"]),
                                           statistics.median(lr["restore"])),
                 "<= %g ns" % BAR_LABEL_NS, self.verdict(ls <= BAR_LABEL_NS))
        d = self.dump_res
        self.row("dump of %d distinct stacks" % d["stacks"],
                 "%.1f ms median; first %.1f ms (starts the writer, reads symbols), slowest "
                 "%.1f ms; on a CPU: %.1f ms median, slowest %.1f ms" % (
                     d["median"], d["first"], d["slowest"], d["cpu_median"], d["cpu_slowest"]),
                 "< %g ms" % BAR_DUMP_MS,
                 self.verdict(d["slowest"] < BAR_DUMP_MS and d["stacks"] >= 10000))
        for key, label in (("python", "python3"), ("sqlite", "sqlite3"),
                           ("dump", "10,000 stacks")):
            name = "profiler memory (self-reported), %s" % label
            mem, grow = (d["memory"], None) if key == "dump" else self.mem_res.get(key, (None, 0))
            if mem is None:
                self.row(name, "n/a", "< 32 MiB", "n/a")
                continue
            extra = "" if grow is None else " (peak RSS grew by %.1f MiB)" % (grow / MIB)
            self.row(name, "%.1f MiB%s" % (mem / MIB, extra), "< 32 MiB",
                     self.verdict(mem < BAR_MEMORY, True, name))
        self.server_bars()
        p = self.pause_res
        self.row("longest pause of an allocating thread while dumps run",
                 "%.2f ms, of which blocked (lock, mmap lock, I/O): %.2f ms; without dumps: "
                 "%.2f ms (blocked %.2f ms); p99.9 %.0f us vs %.0f us; %d dumps" % (
                     p["dumping_max_us"] / 1e3, p["dumping_blocked_max_us"] / 1e3,
                     p["quiet_max_us"] / 1e3, p["quiet_blocked_max_us"] / 1e3,
                     p["dumping_p999_us"], p["quiet_p999_us"], p["dumps"]),
                 "reported", "-")
        a = self.acct_res
        self.row("memory accounting: one read of each source, on its worst heap",
                 "%.1f ms mallinfo2 (%d free chunks); /proc/self/status %.0f us; smaps_rollup "
                 "(not used) %.1f ms (%d MiB resident)"
                 % (a["mallinfo2_us"] / 1e3, self.size["acct_chunks"], a["status_us"],
                    a["smaps_rollup_us"] / 1e3, self.size["acct_rss_mib"]),
                 "reported", "-")
        self.row("longest pause of a thread sharing that arena while dumps run",
                 "%.1f ms blocked with dumps (%d), %.1f ms without"
                 % (a["dumping_blocked_max_us"] / 1e3, a["dumps"],
                    a["quiet_blocked_max_us"] / 1e3),
                 "bounded: one walk, at most 0.1% of the time", "-")
        for name, m in self.recon_res:
            audit = ("%.0f%% +- %.0f%%" % (100 * m["audit_ratio"], 100 * m["audit_band"])
                     if m["audit"] != "none" else "none (%s)" % m["allocator"])
            self.row("reconciliation: %s exit profile" % name,
                     "%.1f MiB RSS, unattributed %.2f MiB (%.1f%%); audit %s" % (
                         m["rss_bytes"] / MIB, m["unattributed_bytes"] / MIB,
                         100 * m["unattributed_bytes"] / m["rss_bytes"], audit),
                     "reported", "-")
        r = self.reach_res
        self.row("reachability scan at exit, a heap of pointers",
                 "%.0f ms for a %d MiB heap, %.0f MiB read (%.2f GB/s); process %.2f s longer "
                 "than without the scan (%.2fx of %.2f s); longest live-table lock held %.1f "
                 "us" % (r["ms"], r["mib"], r["bytes"] / MIB, r["gbps"], r["extra"], r["ratio"],
                         r["off"], r["lock_us"]),
                 "reported", "-")
        return self.rows

    def server_bars(self):
        for key, label in SERVER_ROWS:
            name = "%s: throughput, heapsampler / no profiler" % label
            if key in self.server_res:
                r = self.paired(self.server_res[key], "heapsampler", "none")
                self.row(name, "%.3fx" % r, ">= %gx" % BAR_SERVER, self.verdict(r >= BAR_SERVER))
            else:
                self.row(name, "n/a (%s)" % self.server_note.get(key, "not run"),
                         ">= %gx" % BAR_SERVER, "n/a")

    def wall_table(self):
        configs = list(self.configs())
        base = {"floor": "none", "heapsampler": "floor / none", "jemalloc": "none",
                "jemalloc-prof": "jemalloc", "heaptrack": "none"}
        lines = ["| workload | " + " | ".join(configs) + " |",
                 "|---" * (len(configs) + 1) + "|"]
        for key, wl in self.workloads().items():
            times = self.wall_res[key]
            cells = []
            for c in configs:
                med = statistics.median(times[c])
                cell = "%.1f ns/pair" % (med * 1e9) if wl.get("inproc") else "%.3f s" % med
                if c == "heapsampler":
                    cell += " (%.3fx / %.3fx)" % (self.paired(times, c, "floor"),
                                                  self.paired(times, c, "none"))
                elif c in base:
                    cell += " (%.3fx)" % self.paired(times, c, base[c])
                cells.append(cell)
            lines.append("| %s | %s |" % (wl["label"], " | ".join(cells)))
        lines.append("")
        lines.append("Medians; in parentheses the median of paired ratios: floor, jemalloc and "
                     "heaptrack over none, heapsampler over floor / none, jemalloc-prof over "
                     "jemalloc. Churn times its loop in-process, per malloc+free pair; the "
                     "others are whole processes (heaptrack's includes its interpreter).")
        return lines

    def server_table(self):
        lines = ["| server workload | none | heapsampler | heapsampler / none |",
                 "|---|---|---|---|"]
        unit = {"pgbench": "tps"}
        for key, label in SERVER_ROWS:
            if key not in self.server_res:
                lines.append("| %s | n/a | n/a | n/a (%s) |" % (
                    label, self.server_note.get(key, "not run")))
                continue
            t = self.server_res[key]
            lines.append("| %s | %.0f %s | %.0f %s | %.3fx |" % (
                label, statistics.median(t["none"]), unit.get(key, "req/s"),
                statistics.median(t["heapsampler"]), unit.get(key, "req/s"),
                self.paired(t, "heapsampler", "none")))
        lines.append("")
        lines.append("Throughput, medians; the ratio is the median of the paired rounds "
                     "(higher is better). heapsampler runs at its defaults (512 KiB, a "
                     "profile every 60 s and at exit).")
        return lines

    def instr_table(self):
        if not self.instr:
            return ["Instruction counts: n/a (valgrind not installed)."]
        lines = ["| workload | none | floor | heapsampler |", "|---|---|---|---|"]
        labels = {"churn1": "churn loop, 1 thread", "churn2": "churn loop, 2 threads",
                  "python": "python3, whole process", "sqlite": "sqlite3, whole process"}
        for key, label in labels.items():
            if (key, "none") not in self.instr:
                continue
            lines.append("| %s | %d | %d | %d |" % (label, self.instr[(key, "none")],
                                                    self.instr[(key, "floor")],
                                                    self.instr[(key, "heapsampler")]))
        return lines

    def unwinder_table(self):
        lines = ["| unwinder | one sample, median | instructions per sample | churn: "
                 "instructions per pair over the floor |", "|---|---|---|---|"]
        if not self.fp:
            lines.append("| frame pointers (HEAPSAMPLER_UNWIND=fp) | n/a: not accepted by this "
                         "build | n/a | n/a |")
        for c, name in (("heapsampler", "libunwind (default)"),
                        ("heapsampler-fp", "frame pointers (HEAPSAMPLER_UNWIND=fp)")):
            if c not in self.sample_res:
                continue
            s = self.sample_res
            cost = statistics.median(a - b for a, b in zip(s[c]["malloc"], s["floor"]["malloc"]))
            per = pair = "n/a"
            if ("sample", c) in self.instr:
                per = "%.0f" % ((self.instr[("sample", c)] - self.instr[("sample", "floor")]) /
                                self.size["sample_n"])
                pair = "%.1f" % ((self.instr[("churn1", c)] - self.instr[("churn1", "floor")]) /
                                 self.size["churn_cg_pairs"])
            lines.append("| %s | %.2f us | %s | %s |" % (name, cost / 1e3, per, pair))
        return lines

    def report(self):
        out = self.header()
        if self.args.servers_only:
            self.rows = ["| bar | measured | limit | met |", "|---|---|---|---|"]
            self.server_bars()
            out += ["", "### Bars", ""] + self.rows
            out += ["", "### Real servers", ""] + self.server_table()
            print("\n".join(out), flush=True)
            return
        out += ["", "### Bars", ""] + self.bars()
        out += ["", "### Wall time", ""] + self.wall_table()
        out += ["", "### Real servers", ""] + self.server_table()
        out += ["", "### Instructions (callgrind)", ""] + self.instr_table()
        out += ["", "### Unwinder: libunwind vs frame pointers", ""] + self.unwinder_table()
        out += ["", "### Memory limit", ""] + self.memory_table()
        load1 = os.getloadavg()[0]
        out += ["", "Load average at the end: %.2f. Wall times on a shared machine swing by "
                "several percent between runs; instruction counts do not." % load1]
        print("\n".join(out), flush=True)

    def main(self):
        self.load0 = os.getloadavg()[0]
        t0 = time.monotonic()
        try:
            if not self.args.servers_only:
                self.wall()
                self.sample_cost()
                self.label_cost()
                self.dumps()
                self.pauses()
                self.accounting_pauses()
                self.reconciliation()
                self.memory()
                self.watch_cost()
                self.reach_cost()
                self.dump_memory()
                self.oom_leaks()
            self.servers()
            if not self.args.servers_only:
                self.instructions()
            self.report()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
        log("done in %.0f s" % (time.monotonic() - t0))
        for f in self.failures:
            log("FAILED: " + f)
        if self.args.strict:
            for m in self.missed:
                log("bar missed: " + m)
        if self.failures or (self.args.strict and self.missed):
            return 1
        return 0


def main():
    ap = argparse.ArgumentParser(description="heapsampler's overhead benchmark")
    ap.add_argument("--build-dir", default=os.path.join(SOURCE, "build"))
    ap.add_argument("--quick", action="store_true", help="small workloads, 2 runs: a smoke run")
    ap.add_argument("--runs", type=int, default=0, help="timed runs per configuration")
    ap.add_argument("--strict", action="store_true",
                    help="exit 1 if an instruction or memory bar is missed")
    ap.add_argument("--servers-only", action="store_true",
                    help="only the real servers' throughput (their table and bar rows)")
    args = ap.parse_args()
    try:
        return Bench(args).main()
    except Failure as e:
        log("FAILED: %s" % e)
        return 1


if __name__ == "__main__":
    sys.exit(main())
