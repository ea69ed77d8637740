"""A bounded cache with a sawtooth is not a leak: Debian's redis-server under `heapsampler check`.

redis runs with --maxmemory 32mb --maxmemory-policy allkeys-lru on a free loopback port
(tests/lib/servers.py), started by `heapsampler check --keep DIR` (which preloads the library
through the environment, a profile every 500 ms, a sample every 64 KiB on average). It is
driven with redis-benchmark: rounds of SET on a million random keys then LPUSH on one list,
then LPUSH alone. Eviction drops old string keys and, while SET runs, the whole list at once:
the list site (lpInsert, below zrealloc_usable) rises and falls back to nothing at every
round, and ends on a rise. Judged by the means of thirds that end made it a leak suspect now
and then (in 2 of 7 runs measured, as in the issue's report); judged by its floor it is a
plateau. redis also resizes a hash table now and then during eviction: a 261 KiB block that
lives at one profile, which the means of thirds could take for growth too; its floor stays at
nothing.
`check` must pass and `leaks` on the kept profiles must call no site a leak suspect, the list's
site named after the caller of redis's allocator wrappers.
"""
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import hstest  # noqa: E402
import servers  # noqa: E402

ROUNDS = 4
PER_CALL = 200000  # requests of one redis-benchmark call
PHASE_S = 2.5      # each phase (SET, LPUSH) lasts at least this long: 5 profiles at least
LAST_RISE = 400000  # LPUSH alone at the end


class RedisLruTest(hstest.TempDirTest):

    def test_lru_bounded_list_keys_are_a_plateau(self):
        keep = os.path.join(self.dir, "profiles")
        check = [hstest.CLI, "check", "--rate", "64K", "--interval", "500ms", "--keep", keep,
                 "--"]
        redis = servers.Redis(self.dir, env=hstest.clean_env(), argv_prefix=check,
                              extra=["--maxmemory", "32mb", "--maxmemory-policy", "allkeys-lru"])
        def phase(test):
            # As many calls as it takes to last PHASE_S: the series has as many profiles on a
            # fast machine as on a slow one.
            end = time.monotonic() + PHASE_S
            while True:
                redis.benchmark("-t", test, "-n", PER_CALL, "-r", 1000000, "-d", 64, "-P", 16)
                if time.monotonic() >= end:
                    break

        with redis:
            for _ in range(ROUNDS):
                phase("set")
                phase("lpush")
            redis.benchmark("-t", "lpush", "-n", LAST_RISE, "-P", 16)
            stats = redis.cli("info", "stats")
            rc = redis.stop()
        with open(os.path.join(redis.dir, "stdout.log")) as f:
            log = f.read()
        evicted = int(next(l for l in stats.splitlines()
                           if l.startswith("evicted_keys:")).split(":")[1])
        self.assertGreater(evicted, 100000, "LRU eviction did not happen")
        self.assertEqual(rc, 0, log[-3000:])
        self.assertIn("heapsampler check: passed", log)

        r = subprocess.run([hstest.CLI, "leaks", "--json", keep], capture_output=True,
                           text=True, timeout=hstest.TIMEOUT, env=hstest.clean_env())
        self.assertEqual(r.returncode, 0, r.stderr)
        procs = [p for p in json.loads(r.stdout)["processes"] if "sites" in p]
        self.assertEqual(len(procs), 1)
        proc = procs[0]
        self.assertGreaterEqual(len(proc["time_nanos"]), 30)
        sites = {s["site"]: s for s in proc["sites"]}
        self.assertEqual([n for n, s in sites.items() if s["verdict"] == "leak suspect"], [])
        self.assertNotEqual(proc["total"]["verdict"], "leak suspect")
        self.assertFalse([n for n in sites if n.startswith(("zmalloc", "zrealloc", "zcalloc",
                                                            "ztry"))],
                         "redis's allocator wrappers are not sites")
        lst = sites.get("lpInsert")
        self.assertIsNotNone(lst, sorted(sites))
        # Not a leak suspect, whatever else: on a loaded machine the drops of the list are not
        # always significant against the overdispersion its own teeth cause (then it is judged
        # by its means, a plateau or transient); the sawtooth itself is tested on the trend
        # target (test_check.py) and in simulations (tests/unit/test_trend.c).
        self.assertIn(lst["verdict"], ("plateau", "transient", "stable"), lst)


if __name__ == "__main__":
    if not os.path.exists(hstest.LIB):
        sys.exit("libheapsampler.so not built at %s" % hstest.LIB)
    unittest.main(verbosity=2)
