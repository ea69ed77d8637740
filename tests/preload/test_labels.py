"""Allocation labels in running programs: which endpoint leaks.

tests/preload/targets/labels_server.c serves three endpoints from a pool of worker threads,
all allocating through one shared function; the acceptor labels each request with its tenant
and hands the labels to a worker with heapsampler_label_save/restore. Checked:

  - `leaks --by label:endpoint` calls /orders (the leak) a leak suspect and nothing else, though
    by function the three endpoints are one site;
  - in exact mode (RATE=1) every (endpoint, tenant) pair has exactly the allocations the program
    made, blocks allocated by the acceptor and freed by workers are not live, the cache's blocks
    evicted by other workers neither, the thread names (HEAPSAMPLER_LABELS=thread) and the
    process's labels (key=value) are on every sample;
  - `go tool pprof -tagfocus` and `-tags` read them;
  - the API's limits and errors, save/restore, signal handlers, a forked child, labels set
    before the profiler starts and after it stops; the program runs without the profiler and
    with it disabled;
  - more label sets than HEAPSAMPLER_MAX_LABEL_SETS are recorded as "other" and counted;
  - a bad HEAPSAMPLER_LABELS is one warning, and the program runs on;
  - real programs: python3 labelling its requests through ctypes, redis-server with thread and
    version labels from the environment.
"""
import json
import os
import subprocess
import sys
import textwrap

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import hstest  # noqa: E402
import servers  # noqa: E402

SERVER = "labels_server"


def cli(*args, timeout=120):
    return subprocess.run([hstest.CLI] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout)


def cli_json(test, *args):
    r = cli(*args, "--json")
    test.assertEqual(r.returncode, 0, r.stderr)
    return json.loads(r.stdout)


def sites(report):
    return {s["site"]: s["value"] for s in report["sites"]}


class Labels(hstest.TempDirTest):
    def test_leaking_endpoint_is_found(self):
        run = hstest.run_profiled([hstest.target(SERVER), "serve", "3", "4"], self.dir,
                                  rate="64K", interval="100ms", seed=1)
        self.assertEqual(run.returncode, 0, run.stderr)
        out = cli_json(self, "leaks", self.dir, "--by", "label:endpoint", "--all")
        proc = out["processes"][0]
        verdicts = {s["site"]: s["verdict"] for s in proc["sites"]}
        self.assertEqual(verdicts.get("endpoint=/orders"), "leak suspect", verdicts)
        self.assertIn(verdicts.get("endpoint=/catalog"), ("plateau", "stable"), verdicts)
        self.assertIn(verdicts.get("endpoint=/search", "noise"), ("noise", "stable"), verdicts)
        self.assertEqual([s for s, v in verdicts.items() if v == "leak suspect"],
                         ["endpoint=/orders"])
        # By function there is one site for the three endpoints.
        out = cli_json(self, "leaks", self.dir, "--all")
        names = [s["site"] for s in out["processes"][0]["sites"]]
        self.assertIn("copy_body", names)
        self.assertNotIn("record_order", names)

    def exact_run(self, requests=3000, **cfg):
        cfg.setdefault("labels", "thread,version=7")
        run = hstest.run_profiled([hstest.target(SERVER), "exact", str(requests), "4"],
                                  self.dir, rate=1, interval=0, **cfg)
        self.assertEqual(run.returncode, 0, run.stderr)
        return run

    def test_exact_counts_per_label(self):
        n = 3000
        run = self.exact_run(n)
        self.assertIn("handled 1000 1000 1000", run.stdout)
        prof = run.last_profile()
        # Request i: endpoint i % 3, tenant (i / 3) % 3; /search makes four blocks a request.
        want = {}
        for i in range(n):
            e, t = ["/orders", "/catalog", "/search"][i % 3], "t%d" % (i // 3 % 3)
            key = "endpoint=%s tenant=%s" % (e, t)
            want[key] = want.get(key, 0) + (4 if e == "/search" else 1)
            req = "endpoint=(none) tenant=%s" % t
            want[req] = want.get(req, 0) + 1  # the request, allocated by the acceptor
        got = sites(cli_json(self, "report", prof, "--by", "label:endpoint,label:tenant",
                             "--type", "alloc_objects", "--top", "0",
                             "--focus", "version=7"))
        got.pop("endpoint=(none) tenant=(none)", None)  # the program's own set-up
        self.assertEqual(got, want)
        # What is live at exit: every order, the cache's 512 entries; no request (freed by the
        # workers) and no search buffer.
        live = sites(cli_json(self, "report", prof, "--by", "label:endpoint,label:tenant",
                              "--top", "0"))
        self.assertEqual(sum(v for k, v in live.items() if k.startswith("endpoint=/orders")),
                         1000 * 2048)
        self.assertEqual(sum(v for k, v in live.items() if k.startswith("endpoint=/catalog")),
                         512 * 16384)
        for k, v in live.items():
            if k.startswith("endpoint=/search") or (k.startswith("endpoint=(none) tenant=t")):
                self.assertEqual(v, 0, k)
        # Thread names: requests come from the acceptor, orders from the workers.
        threads = sites(cli_json(self, "report", prof, "--by", "label:thread,label:endpoint",
                                 "--type", "alloc_objects", "--top", "0", "--focus",
                                 "tenant=t1"))
        self.assertEqual(threads["thread=acceptor endpoint=(none)"], want["endpoint=(none) "
                                                                           "tenant=t1"])
        threads = sites(cli_json(self, "report", prof, "--by", "label:thread,label:endpoint",
                                 "--type", "alloc_objects", "--top", "0"))
        orders = {k: v for k, v in threads.items() if k.endswith("endpoint=/orders")}
        self.assertEqual(sum(orders.values()), 1000)
        self.assertTrue(all(k.startswith("thread=worker-") for k in orders), orders)
        # The process's label is on every sample.
        everything = cli_json(self, "report", prof, "--type", "alloc_objects")
        focused = cli_json(self, "report", prof, "--type", "alloc_objects", "--focus",
                           "version=7")
        self.assertEqual(focused["total"], everything["total"])

    def test_go_tool_pprof_reads_the_labels(self):
        if not hstest.have_go():
            self.skipTest("go is not installed")
        prof = self.exact_run(3000).last_profile()
        out = subprocess.run(["go", "tool", "pprof", "-top", "-unit=B", "-symbolize=none",
                              "-tagfocus", "endpoint=/orders", prof],
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("tagfocus=endpoint=/orders", out.stdout)
        self.assertRegex(out.stdout, r"accounting for 2048000B, [\d.]+% of \d+B total")
        self.assertRegex(out.stdout, r"(?m)^\s+2048000B .* copy_body$")
        out = subprocess.run(["go", "tool", "pprof", "-tags", "-symbolize=none",
                              "-sample_index=alloc_objects", prof],
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)
        for text in ("endpoint: Total", "/orders", "/catalog", "/search", "tenant: Total",
                     "thread: Total", "worker-", "acceptor", "version: Total"):
            self.assertIn(text, out.stdout)

    def test_api_contract(self):
        run = hstest.run_profiled([hstest.target(SERVER), "api"], self.dir, rate=1, interval=0)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.stdout.splitlines(), [
            "longest key and value: ok",
            "key too long: refused as expected",
            "value too long: refused as expected",
            "bad key: refused as expected",
            "reserved key: refused as expected",
            "null key: refused as expected",
            "empty value: refused as expected",
            "control character: refused as expected",
            "invalid UTF-8: refused as expected",
            "8 keys: ok",
            "one key too many: refused as expected",
            "an existing key changes: ok",
            "removing a key: ok",
            "then one more fits: ok",
            "removing a key it does not have: ok",
            "cleared: empty",
            "restore: ok",
            "restored: same set",
            "restore garbage: refused as expected",
            "restore empty: ok",
            "after signals: same set",
            "child restore: ok",
            "child exited 0",
        ])
        # The forked child wrote its own profile, where its block carries the parent's set.
        pids = {os.path.basename(f).split(".")[1] for f in run.profiles()}
        self.assertEqual(len(pids), 2, run.profiles())
        found = {}
        for f in run.profiles():
            got = sites(cli_json(self, "report", f, "--by", "label:endpoint,function", "--top",
                                 "0"))
            if "endpoint=/child child_allocation" in got:
                found[f] = got["endpoint=/child child_allocation"]
        self.assertEqual(list(found.values()), [2048], found)

    def test_before_the_profiler_starts_and_after_it_stops(self):
        # A library the program needs is initialised before the preloaded profiler and
        # finalised after it: its constructor sets a label, which main's allocation carries;
        # its destructor uses the API once the profiler has stopped.
        run = hstest.run_profiled([hstest.target("labels_early")], self.dir, rate=1)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.stdout.splitlines(), ["early labels: ok", "late labels: ok"])
        got = sites(cli_json(self, "report", run.last_profile(), "--by",
                             "label:phase,function", "--top", "0"))
        self.assertEqual(got.get("phase=early early_allocation"), 4096, got)
        self.assertNotIn("phase=late", " ".join(got))

    def test_without_the_profiler_and_disabled(self):
        r = subprocess.run([hstest.target(SERVER), "api"], capture_output=True, text=True,
                           timeout=60, env=hstest.clean_env())
        self.assertEqual((r.returncode, r.stdout), (0, "no profiler\n"), r.stderr)
        r = subprocess.run([hstest.target(SERVER), "exact", "300", "2"], capture_output=True,
                           text=True, timeout=60, env=hstest.clean_env())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("handled 100 100 100", r.stdout)
        # Disabled: the calls check their arguments and do nothing else.
        run = hstest.run_profiled([hstest.target(SERVER), "api"], self.dir, enabled=0)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertIn("bad key: refused as expected", run.stdout)
        self.assertIn("one key too many: ok", run.stdout)
        self.assertIn("restore garbage: refused as expected", run.stdout)
        self.assertEqual(run.profiles(), [])

    def test_label_sets_beyond_the_bound_are_other(self):
        run = hstest.run_profiled([hstest.target(SERVER), "many", "40"], self.dir, rate=1,
                                  max_label_sets=16)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.stderr.count("HEAPSAMPLER_MAX_LABEL_SETS=16"), 1, run.stderr)
        got = sites(cli_json(self, "report", run.last_profile(), "--by", "label:endpoint",
                             "--top", "0", "--focus", "endpoint=other"))
        self.assertEqual(got, {"endpoint=other": 24 * 4096})
        kept = sites(cli_json(self, "report", run.last_profile(), "--by", "label:endpoint",
                              "--top", "0"))
        self.assertEqual(sum(1 for k in kept if k.startswith("endpoint=/e")), 16)
        prof = hstest.Profile(run.last_profile())
        self.assertIn("label_sets=16 label_sets_max=16 label_sets_folded=24", prof.raw)

    def test_bad_environment_labels(self):
        run = hstest.run_profiled([hstest.target(SERVER), "exact", "30", "2"], self.dir,
                                  rate=1, labels="Bad-Key=1")
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertIn('heapsampler: ignoring HEAPSAMPLER_LABELS="Bad-Key=1": key "Bad-Key": '
                      "a key is a letter or _, then letters, digits and _ (using \"\")",
                      run.stderr)
        got = sites(cli_json(self, "report", run.last_profile(), "--by", "label:Bad_Key"))
        self.assertEqual(list(got), ["Bad_Key=(none)"])
        # Percent-encoded values arrive decoded.
        run = hstest.run_profiled([hstest.target(SERVER), "exact", "30", "2"], self.dir,
                                  rate=1, labels="region=eu%2Cwest", output="enc")
        got = sites(cli_json(self, "report", run.last_profile(), "--by", "label:region"))
        self.assertEqual(list(got), ["region=eu,west"])


class RealPrograms(hstest.TempDirTest):
    def test_python_labels_its_requests_through_ctypes(self):
        """A Python service that labels its requests: the leak is in one endpoint's data."""
        script = os.path.join(self.dir, "service.py")
        with open(script, "w") as f:
            f.write(textwrap.dedent("""\
                import ctypes, time
                lib = ctypes.CDLL(None)
                label = lib.heapsampler_label_set
                history, cache = [], {}
                for i in range(6000):
                    endpoint = ("/orders", "/catalog", "/search")[i % 3]
                    label(b"endpoint", endpoint.encode())
                    body = "x" * 2000 + str(i)          # every request parses its body
                    if endpoint == "/orders":
                        history.append(body)            # kept forever: the leak
                    elif endpoint == "/catalog":
                        cache[i % 300] = body           # a bounded cache
                    label(b"endpoint", None)
                    if i % 30 == 0:
                        time.sleep(0.01)
                """))
        run = hstest.run_profiled(["python3", script], self.dir, rate="32K", interval="100ms",
                                  env={"PYTHONMALLOC": "malloc"})
        self.assertEqual(run.returncode, 0, run.stderr)
        out = cli_json(self, "leaks", self.dir, "--by", "label:endpoint")
        proc = [p for p in out["processes"] if "sites" in p][0]
        verdicts = {s["site"]: s["verdict"] for s in proc["sites"]}
        self.assertEqual(verdicts.get("endpoint=/orders"), "leak suspect", verdicts)
        self.assertEqual([s for s, v in verdicts.items() if v == "leak suspect"],
                         ["endpoint=/orders"], verdicts)

    def test_redis_with_thread_and_version_labels(self):
        env = hstest.clean_env(LD_PRELOAD=hstest.LIB, HEAPSAMPLER_OUTPUT=self.dir + "/",
                               HEAPSAMPLER_RATE="16K", HEAPSAMPLER_LABELS="thread,version=7.0")
        with servers.Redis(self.dir, env=env) as r:
            r.benchmark("-n", "5000", "-q", "-t", "set,lpush", "-d", "256")
        files = [f for f in os.listdir(self.dir) if f.endswith(".pb.gz")]
        self.assertEqual(len(files), 1, files)
        prof = os.path.join(self.dir, files[0])
        got = sites(cli_json(self, "report", prof, "--by", "label:thread,label:version",
                             "--type", "alloc_space", "--top", "0"))
        self.assertIn("thread=redis-server version=7.0", got)
        self.assertNotIn("thread=(none)", " ".join(got))
        self.assertNotIn("version=(none)", " ".join(got))


if __name__ == "__main__":
    hstest.main()
