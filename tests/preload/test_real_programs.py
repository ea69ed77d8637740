"""Real programs that no one wrote for heapsampler: python3 (PYTHONMALLOC=malloc, so every
object goes through malloc) and sqlite3. Under the profiler their output and exit status are
unchanged and the profiles are valid, with readable function names."""
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import hstest  # noqa: E402

PYTHON = "/usr/bin/python3"
SQLITE = shutil.which("sqlite3")

PY_SCRIPT = r"""
import json, threading
cache = {}
def build(n):
    return {"id": n, "tags": ["t%d" % i for i in range(20)], "blob": "x" * (n % 3000)}
def work(k):
    for i in range(20000):
        cache[(k, i)] = build(i)
        if i % 3 == 0:
            del cache[(k, i)]
ts = [threading.Thread(target=work, args=(k,)) for k in range(3)]
for t in ts: t.start()
for t in ts: t.join()
print(len(cache), len(json.dumps([cache[k] for k in sorted(cache)[:500]])))
# The public API, present only when the profiler is preloaded: a profile while cache is full.
import ctypes
dump = getattr(ctypes.CDLL(None), "heapsampler_dump", None)
if dump is not None and dump() != 0:
    raise SystemExit("heapsampler_dump failed")
"""

SQL = """
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, payload BLOB);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 30000)
INSERT INTO t SELECT x, 'name' || x, randomblob(200) FROM c;
CREATE INDEX t_name ON t(name);
SELECT count(*), sum(length(payload)) FROM t WHERE name LIKE 'name1%';
SELECT name FROM t ORDER BY name DESC LIMIT 3;
"""


class RealPrograms(hstest.TempDirTest):
    def compare(self, argv, stdin=None, env=None, **cfg):
        base = hstest.clean_env(**(env or {}))
        plain = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=base,
                               timeout=300)
        run = hstest.run_profiled(argv, self.dir, stdin=stdin, env=env, timeout=300, **cfg)
        self.assertEqual(run.returncode, plain.returncode, run.stderr)
        self.assertEqual(run.stdout, plain.stdout)
        self.assertEqual(run.stderr, plain.stderr)
        profs = [hstest.Profile(f) for f in run.profiles()]
        names = set()
        for loc in profs[-1].locations.values():
            names.update(loc[2])
        return profs, names

    @unittest.skipUnless(os.path.exists(PYTHON), "Debian python3 not installed")
    def test_python3(self):
        for rate in ("65536", "524288"):
            profs, names = self.compare([PYTHON, "-c", PY_SCRIPT],
                                        env={"PYTHONMALLOC": "malloc"}, rate=rate,
                                        output=os.path.join(self.dir, "r" + rate))
            self.assertEqual(len(profs), 2)  # the API dump, then the exit dump
            self.assertGreater(profs[0].total("alloc_space"), 10 << 20, rate)
            # 40,000 cached dicts of ~20 strings each are live at the API dump.
            self.assertGreater(profs[0].total("inuse_space"), 20 << 20, rate)
            self.assertGreaterEqual(profs[1].total("alloc_space"), profs[0].total("alloc_space"))
            py = [n for n in names if n.startswith(("Py", "_Py"))]
            self.assertGreater(len(py), 5, sorted(names))

    @unittest.skipUnless(SQLITE, "sqlite3 not installed")
    def test_sqlite3(self):
        profs, names = self.compare([SQLITE, ":memory:"], stdin=SQL, rate="32768")
        self.assertGreater(profs[-1].total("alloc_space"), 1 << 20)
        self.assertTrue([n for n in names if n.startswith("sqlite3")], sorted(names))


if __name__ == "__main__":
    hstest.main()
