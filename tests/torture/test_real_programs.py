"""Real programs that no one wrote for heapsampler, at aggressive rates, compared with a run
without it (same output, same exit status) and with valid profiles: python3 (PYTHONMALLOC=malloc,
so every object goes through malloc) running a threaded script that forks from a multi-threaded
parent (children that allocate and exit normally, a multiprocessing pool, a subprocess), sqlite3
on a workload of inserts, indexes, joins, window functions, updates, deletes and VACUUM, and a C++
program that uses the standard library heavily (targets/cxx_stl.cpp)."""
import os
import re
import shutil
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import torture  # noqa: E402
from torture import hstest  # noqa: E402

PYTHON = "/usr/bin/python3"
SQLITE = shutil.which("sqlite3")

PY_SCRIPT = r"""
import hashlib, json, os, subprocess, sys, threading
import multiprocessing as mp

ROUNDS = int(sys.argv[1])
data, lock, stop = {}, threading.Lock(), threading.Event()

def worker(k):
    local = []
    for i in range(ROUNDS):
        local.append(json.dumps({"k": k, "i": i, "s": "v%d" % (i * k), "l": list(range(i % 50))}))
        if len(local) > 200:
            local.pop(0)
    with lock:
        data[k] = hashlib.sha256("".join(local).encode()).hexdigest()[:16]

def churn():
    while not stop.is_set():
        junk = [str(i) * 10 for i in range(500)]
        del junk

threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
background = threading.Thread(target=churn)
background.start()
for t in threads:
    t.start()

# Forks while the other threads run: each child allocates, reports and exits normally.
children = []
for n in range(3):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        total = sum(len(json.dumps({"n": n, "x": list(range(1000))})) for _ in range(100))
        os.write(w, str(total).encode())
        os.close(w)
        sys.exit(n)
    os.close(w)
    children.append((pid, r))
results = []
for pid, r in children:
    out = b""
    while True:
        chunk = os.read(r, 4096)
        if not chunk:
            break
        out += chunk
    os.close(r)
    _, status = os.waitpid(pid, 0)
    results.append((out.decode(), os.waitstatus_to_exitcode(status)))
for t in threads:
    t.join()
stop.set()
background.join()
print(sorted(data.items()))
print(results)
with mp.get_context("fork").Pool(3) as pool:
    print(sum(pool.map(len, [str(i) * (i % 40) for i in range(2000)])))
print(subprocess.run([sys.executable, "-c", "print(sum(range(10**5)))"],
                     capture_output=True, text=True).stdout.strip())
"""

SQL = """
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, payload BLOB);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 40000)
INSERT INTO t SELECT x, 'name' || (x * 7919 % 40000), x % 97, zeroblob(x % 500) FROM c;
CREATE INDEX t_name ON t(name);
CREATE INDEX t_grp ON t(grp, name);
CREATE TABLE g AS SELECT grp, count(*) AS n, sum(length(payload)) AS bytes FROM t GROUP BY grp;
SELECT count(*), sum(n), sum(bytes) FROM g;
SELECT t.grp, g.n, count(*) FROM t JOIN g ON g.grp = t.grp WHERE t.name LIKE 'name1%'
  GROUP BY t.grp ORDER BY t.grp LIMIT 5;
SELECT name, rank() OVER (PARTITION BY grp ORDER BY name DESC) AS r FROM t
  WHERE grp = 3 ORDER BY r LIMIT 3;
BEGIN;
UPDATE t SET payload = zeroblob(1000) WHERE id % 13 = 0;
DELETE FROM t WHERE id % 5 = 0;
COMMIT;
VACUUM;
SELECT count(*), sum(length(payload)), max(name) FROM t;
"""


def pids(files):
    return {int(re.search(r"\.(\d+)\.\d{4}\.pb", f).group(1)) for f in files}


class RealPrograms(torture.Case):
    def compare(self, argv, stdin=None, env=None, **cfg):
        plain = self.run_plain(argv, stdin=stdin, extra_env=env, timeout=300)
        run = self.run_profiled(argv, stdin=stdin, extra_env=env, timeout=300, **cfg)
        self.assert_same(run, plain)
        return run

    @unittest.skipUnless(os.path.exists(PYTHON), "Debian python3 not installed")
    def test_python_threads_and_forks(self):
        argv = [PYTHON, "-c", PY_SCRIPT, str(hstest.scale(3000))]
        run = self.compare(argv, env={"PYTHONMALLOC": "malloc"}, rate=512, interval="100ms")
        self.assertIn("[('490500', 0), ('490500', 1), ('490500', 2)]", run.stdout)
        last = self.valid_profiles(run)
        # The parent and its three forked children each wrote their own profiles.
        self.assertGreaterEqual(len(pids(run.profiles())), 4, run.profiles())
        names = {n for loc in last.locations.values() for n in loc[2]}
        self.assertGreater(len([n for n in names if n.startswith(("Py", "_Py"))]), 5)

    @unittest.skipUnless(SQLITE, "sqlite3 not installed")
    def test_sqlite3(self):
        run = self.compare([SQLITE, ":memory:"], stdin=SQL, rate=1024)
        last = self.valid_profiles(run)
        self.assertGreater(last.total("alloc_space"), 1 << 20)
        names = {n for loc in last.locations.values() for n in loc[2]}
        self.assertTrue([n for n in names if n.startswith("sqlite3")], sorted(names)[:50])

    def test_cxx_standard_library(self):
        try:
            target = torture.target("cxx_stl")
        except FileNotFoundError:
            self.skipTest("no C++ compiler at configure time")
        for rate in ("1", "256"):
            run = self.compare([target, str(hstest.scale(20))], rate=rate,
                               prefix=os.path.join(self.dir, "r" + rate))
            self.assertEqual(run.stdout.count("\n"), hstest.scale(20))
            self.valid_profiles(run)
            # Demangled C++ names contain spaces: read every Line of every location.
            sym = hstest.SymProfile(run.profiles()[-1])
            names = {f.name for frames in sym.lines.values() for f in frames}
            for fn in ("containers", "exceptions", "build_tree"):
                self.assertTrue([n for n in names if fn in n], (fn, rate, sorted(names)[:40]))


if __name__ == "__main__":
    hstest.main()
