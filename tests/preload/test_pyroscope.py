"""Uploads to Grafana Pyroscope, checked by a stand-in receiver (tests/lib/pyroscope_receiver.py)
that validates every request the way the server does and fails the test on any violation.

Checked: labels and application name arrive; the sum of alloc_space over all uploads equals what
the target allocated (exact mode exactly; at the default rate within 4 sigma of the sampling
error) while each upload's inuse_space is the live memory of its moment; a target with more
than 16,000 stacks is folded under the limit with its totals intact; 503 and 429 are retried,
422, 401 and 413 are not, and each kind of failure is logged once with the server's message;
the password and header values never appear in any output, verbose mode included; the exit
upload happens; a bad configuration disables uploads and nothing else; a forked child uploads
only its own allocations; a full queue drops (and counts) the oldest profiles.

The targets wait for the receiver (tests/preload/targets/uploads.c polls a count file), never
for a fixed time."""
import base64
import json
import math
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import hstest  # noqa: E402
from pyroscope_receiver import Receiver  # noqa: E402

# curl honours proxy variables: the receiver is local.
NO_PROXY = {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}


def leaf_sum(uploads, sample_type, func):
    return sum(u.by_function(sample_type, func) for u in uploads)


class Upload(hstest.TempDirTest):
    def run_target(self, argv, receiver, env=None, **cfg):
        cfg.setdefault("pyroscope_url", receiver.url)
        e = dict(NO_PROXY)
        e.update(env or {})
        return hstest.run_profiled(argv, self.dir, env=e, **cfg)

    def count_file(self):
        return os.path.join(self.dir, "accepted")

    def assert_clean(self, r, run):
        self.assertEqual(r.errors, [], "requests broke the server's rules")
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)


class Semantics(Upload):
    def test_exact_deltas_sum_to_allocations_and_inuse_tracks_live(self):
        phases, blocks, size, churn = 4, 100, 1000, 50
        with Receiver(count_file=self.count_file()) as r:
            run = self.run_target(
                [hstest.target("uploads"), "phases", self.count_file(),
                 os.path.join(self.dir, "dump"), str(phases), str(blocks), str(size),
                 str(churn)],
                r, rate=1, upload_interval="0.2s", app_name="phases-app",
                tags="env=test,team=memory")
        self.assert_clean(r, run)
        ups = r.accepted_uploads()
        self.assertGreaterEqual(len(ups), 2 * phases + 1)
        for u in ups:
            self.assertEqual(u.app, "phases-app")
            self.assertEqual(u.labels, {"env": "test", "team": "memory"})
            self.assertNotIn("content-encoding", u.headers)
        # Windows follow each other: each upload starts where the previous one ended.
        for a, b in zip(ups, ups[1:]):
            self.assertEqual(b.query["from"], a.query["until"])
        # alloc_* are increments: their sum is everything allocated, exactly.
        self.assertEqual(leaf_sum(ups, "alloc_space", "phase_keep"), phases * blocks * size)
        self.assertEqual(leaf_sum(ups, "alloc_objects", "phase_keep"), phases * blocks)
        self.assertEqual(leaf_sum(ups, "alloc_space", "phase_churn"), phases * churn * size)
        # inuse_* are absolute: every phase's live memory shows in an upload, and in order.
        live = [u.by_function("inuse_space", "phase_keep") for u in ups]
        for i in range(1, phases + 1):
            self.assertIn(i * blocks * size, live)
        self.assertEqual(live, sorted(live[:-1]) + live[-1:])
        self.assertEqual(live[-1], (phases * blocks // 2) * size)  # the exit upload
        self.assertTrue(all(u.by_function("inuse_space", "phase_churn") == 0 for u in ups))
        # The uploads agree with the files: the exit file's cumulative alloc_* is their sum.
        prof = hstest.Profile(run.last_profile())
        self.assertEqual(prof.site_values("phase_keep")[:2],
                         (phases * blocks, phases * blocks * size))
        # And each phase's dump (a file) has the inuse of the uploads built after it.
        for i in range(1, phases + 1):
            dump = hstest.Profile(os.path.join(self.dir, "dump.%d.pb.gz" % i))
            self.assertEqual(dump.site_values("phase_keep")[3], i * blocks * size)

    def test_default_rate_sum_within_sampling_error(self):
        # 64 KiB blocks churned at the default rate (512 KiB): p = 1 - exp(-1/8); the estimate of
        # each allocation has variance s^2 (1-p)/p, so the total's sigma is s * sqrt(n (1-p)/p).
        rate, size, churn, phases = 524288, 65536, 8192, 3
        p = 1 - math.exp(-size / rate)
        n = phases * churn
        sigma = size * math.sqrt(n * (1 - p) / p)
        with Receiver(count_file=self.count_file()) as r:
            run = self.run_target(
                [hstest.target("uploads"), "phases", self.count_file(),
                 os.path.join(self.dir, "dump"), str(phases), "16", str(size), str(churn)],
                r, seed=12345, upload_interval="0.2s")
        self.assert_clean(r, run)
        ups = r.accepted_uploads()
        self.assertGreater(len(ups), phases)
        total = leaf_sum(ups, "alloc_space", "phase_churn")
        self.assertLess(abs(total - n * size), 4 * sigma, (total, n * size, sigma))
        # The increments add up to the cumulative estimate of the exit file, up to the rounding
        # of each upload's rows (half a byte each).
        cumulative = hstest.Profile(run.last_profile()).by_function("alloc_space")
        self.assertLessEqual(abs(total - cumulative["phase_churn"]), len(ups))

    def test_more_than_16000_stacks_folded_with_totals_intact(self):
        depth = 15  # 32768 distinct stacks
        dump = os.path.join(self.dir, "stacks.pb.gz")
        with Receiver(count_file=self.count_file()) as r:
            run = self.run_target([hstest.target("uploads"), "stacks", self.count_file(), dump,
                                   str(depth)],
                                  r, rate=1, upload_interval="0.3s")
        self.assert_clean(r, run)  # no upload over 16,000 samples or 4 MiB
        ups = r.accepted_uploads()
        folded = [u for u in ups if any(
            u.leaf_names(s) == ["[other]"] for s in u.profile["sample"])]
        self.assertTrue(folded, "no upload has an [other] sample")
        self.assertTrue(all(len(u.profile["sample"]) <= 16000 for u in ups))
        # Everything up to the upload after the dump (the target allocates nothing while it
        # waits) sums to the dump's totals, [other] included.
        file = hstest.Profile(dump)
        before_exit = ups[:-1]
        self.assertEqual(sum(u.total("alloc_space") for u in before_exit),
                         file.total("alloc_space"))
        self.assertEqual(sum(u.total("alloc_objects") for u in before_exit),
                         file.total("alloc_objects"))
        self.assertEqual(before_exit[-1].total("inuse_space"), file.total("inuse_space"))
        self.assertGreaterEqual(file.total("alloc_space"), 64 << depth)

    def test_exit_upload_of_a_short_program(self):
        with Receiver() as r:
            run = self.run_target([hstest.target("exact")], r, rate=1, upload_interval="1h")
        self.assert_clean(r, run)
        self.assertEqual(len(r.uploads), 1)
        u = r.uploads[0]
        self.assertEqual(u.app, "hs_target_exact")  # the program's name
        self.assertEqual(u.by_function("alloc_space", "site_malloc"), 100000)
        self.assertEqual(u.by_function("inuse_space", "site_freed"), 0)
        self.assertEqual(u.by_function("alloc_space", "site_freed"), 128000)
        self.assertIn("heapsampler 0.1.0 (upload)", u.comments())
        # The process is named, but its command line (which may hold a password given as an
        # argument) does not leave the machine; the file has it.
        self.assertTrue([c for c in u.comments() if "program=hs_target_exact" in c],
                        u.comments())
        self.assertFalse([c for c in u.comments() if "cmdline=" in c or "title=" in c])
        self.assertIn("cmdline", hstest.meta(run.last_profile())[1])

    def test_exit_while_libcurl_loads(self):
        # Programs that exit within the first milliseconds, while the delivery thread loads
        # libcurl and its TLS library: OpenSSL's exit handler used to run concurrently with its
        # initialisation (a crash in about 3 runs of 100 in this sweep). Every run exits
        # cleanly, and every one uploads its exit profile.
        with Receiver() as r:
            for us in range(0, 6000, 30):
                before = len(r.accepted_uploads())
                run = self.run_target([hstest.target("uploads"), "exit", "-", str(us)], r,
                                      rate=1, upload_interval="1h")
                self.assert_clean(r, run)
                self.assertEqual(len(r.accepted_uploads()), before + 1, us)

    def test_forked_child_uploads_only_its_own_allocations(self):
        with Receiver() as r:
            run = self.run_target([hstest.target("forker"), "fork"], r, rate=1,
                                  upload_interval="1h")
        self.assert_clean(r, run)
        ups = r.accepted_uploads()
        self.assertEqual(len(ups), 2)  # the parent's and the child's exit uploads
        # parent_site is the parent's (the child inherits it live, not as an allocation).
        self.assertEqual(leaf_sum(ups, "alloc_space", "parent_site"), 100 * 1000)
        self.assertEqual(leaf_sum(ups, "alloc_space", "child_site"), 200 * 500)
        self.assertEqual(leaf_sum(ups, "inuse_space", "parent_site"), 2 * 100 * 1000)


class Labels(Upload):
    """Uploads carry the rows' labels as sample labels, which the server turns into series:
    as many sets as HEAPSAMPLER_UPLOAD_LABEL_SETS allows (the others folded to "other", totals
    intact), none named like a tag, and no series with more label names than the server takes
    (the receiver checks every series)."""

    def exact_server(self, r, **cfg):
        run = self.run_target([hstest.target("labels_server"), "exact", "3000", "4"], r,
                              rate=1, upload_interval="1h", **cfg)
        self.assert_clean(r, run)
        self.assertEqual(len(r.accepted_uploads()), 1)
        self.stderr = run.stderr
        self.file = run.last_profile()
        return r.accepted_uploads()[0]

    def file_endpoints(self, sample_type):
        """What the exit file has of each sample type in labelled rows (the exit upload misses
        only the allocations of exit handlers that run after it, which are not labelled)."""
        out = subprocess.run([hstest.CLI, "report", self.file, "--by", "label:endpoint",
                              "--type", sample_type, "--json", "--top", "0"],
                             capture_output=True, text=True, timeout=60)
        sites = json.loads(out.stdout)["sites"]
        return sum(s["value"] for s in sites if s["site"] != "endpoint=(none)")

    def upload_endpoints(self, u, sample_type):
        return sum(v for pairs, v in self.per_set(u, sample_type).items()
                   if "endpoint" in dict(pairs))

    def per_set(self, u, sample_type):
        i = [t for t, _ in (("alloc_objects", 0), ("alloc_space", 0), ("inuse_objects", 0),
                            ("inuse_space", 0))].index(sample_type)
        return {pairs: sum(s["value"][i] for s in samples) for pairs, samples in u.series().items()}

    def test_labels_arrive_as_series(self):
        with Receiver() as r:
            u = self.exact_server(r, labels="version=7", upload_label_sets=64)
        inuse = {dict(k).get("endpoint"): 0 for k in u.series()}
        for pairs, v in self.per_set(u, "inuse_space").items():
            inuse[dict(pairs).get("endpoint")] = inuse.get(dict(pairs).get("endpoint"), 0) + v
        self.assertEqual(inuse["/orders"], 1000 * 2048)
        self.assertEqual(inuse["/catalog"], 512 * 16384)
        self.assertTrue(all(dict(k).get("version") == "7" for k in u.series()))
        endpoints = {dict(k).get("endpoint") for k in u.series()}
        self.assertEqual(endpoints, {"/orders", "/catalog", "/search", None})

    def test_label_sets_are_bounded_and_totals_kept(self):
        with Receiver() as r:
            full = self.exact_server(r, upload_label_sets=64)
        with Receiver() as r:
            few = self.exact_server(r, upload_label_sets=2)
        self.assertGreater(len(full.series()), 10)  # 3 endpoints x 3 tenants, requests, ...
        labelled = [k for k in few.series() if k]
        real = [k for k in labelled if "other" not in dict(k).values()]
        self.assertEqual(len(real), 2, few.series().keys())
        # The heaviest sets keep their labels: in use, the cache's and the orders' largest.
        self.assertTrue(all(dict(k)["endpoint"] in ("/catalog", "/search") for k in real), real)
        for t in ("alloc_space", "inuse_space", "alloc_objects"):
            self.assertEqual(self.upload_endpoints(few, t), self.file_endpoints(t), t)
        with Receiver() as r:
            none = self.exact_server(r, upload_label_sets=0, labels="version=7")
        self.assertEqual(list(none.series()), [frozenset()])

    def test_tags_and_the_limit_of_names(self):
        # A label named like a tag is left out (the server ignores it); 24 tags leave room for
        # 2 sample label names per series: the process's labels go first, then the last keys.
        tags = ["tenant=fleet"] + ["t%d=x" % i for i in range(23)]
        with Receiver() as r:
            u = self.exact_server(r, tags=",".join(tags), labels="version=7,zone=a")
        series = {frozenset(k for k, _ in pairs) for pairs in u.series()}
        self.assertEqual(series, {frozenset({"endpoint", "version"}),
                                  frozenset({"version", "zone"})}, series)
        for smp in u.profile["sample"]:
            self.assertNotIn("tenant", u.sample_labels(smp))
        self.assertEqual(self.stderr.count("more labels than Pyroscope accepts"), 1, self.stderr)


class Delivery(Upload):
    def wait_run(self, r, uploads, **cfg):
        cfg.setdefault("upload_interval", "0.1s")
        cfg.setdefault("rate", 1)
        return self.run_target([hstest.target("uploads"), "wait", self.count_file(),
                                str(uploads)], r, **cfg)

    def test_503_and_429_retried_422_not(self):
        with Receiver(count_file=self.count_file()) as r:
            r.answer(503, 503, 429, message=b"overloaded, try later")
            run = self.wait_run(r, 2)
        self.assert_clean(r, run)
        first = r.uploads[0].body
        same = [u.status for u in r.uploads if u.body == first]
        self.assertEqual(same, [503, 503, 429, 200])
        lines = run.stderr.splitlines()
        self.assertEqual(sum("HTTP 503: overloaded, try later" in l for l in lines), 1, lines)
        self.assertEqual(sum("HTTP 429" in l for l in lines), 1, lines)
        self.assertTrue(any("retrying with backoff" in l for l in lines), lines)

        with Receiver(count_file=self.count_file()) as r:
            r.answer(422, message=b"invalid profile: the test says no")
            run = self.wait_run(r, 2)
        self.assert_clean(r, run)
        refused = r.uploads[0].body
        self.assertEqual([u.status for u in r.uploads if u.body == refused], [422])
        self.assertEqual(run.stderr.count("HTTP 422: invalid profile: the test says no"), 1)
        self.assertIn("not retried", run.stderr)
        self.assertIn("1 rejected", run.stderr)

    def test_401_and_413_not_retried_and_logged_once(self):
        for status in (401, 413):
            with Receiver(count_file=self.count_file()) as r:
                r.answer(status, status, status, message=b"no: status %d" % status)
                run = self.wait_run(r, 1)
            self.assert_clean(r, run)
            bodies = [u.body for u in r.uploads if u.status == status]
            self.assertEqual(len(bodies), 3)
            self.assertEqual(len(set(bodies)), 3, "a refused profile was sent again")
            self.assertEqual(run.stderr.count("HTTP %d: no: status %d" % (status, status)), 1)

    def test_redirect_not_followed(self):
        with Receiver(count_file=self.count_file()) as r:
            r.answer(307, headers={"Location": "http://127.0.0.1:1/elsewhere"})
            run = self.wait_run(r, 1)
        self.assert_clean(r, run)
        self.assertEqual(r.uploads[0].status, 307)
        self.assertEqual(sum(u.body == r.uploads[0].body for u in r.uploads), 1)
        self.assertIn("a redirect, not followed", run.stderr)

    def test_full_queue_drops_oldest_and_counts(self):
        with Receiver() as r:
            r.always(503)
            run = hstest.run_profiled(
                [hstest.target("waiter"), "interval", self.dir, "8"], self.dir,
                env=NO_PROXY, pyroscope_url=r.url, upload_interval="0.1s", interval="0.1s",
                upload_queue=1, upload_timeout="0.5s")
        self.assertEqual(r.errors, [])
        self.assertEqual(run.returncode, 0, run.stdout)
        self.assertIn("upload queue full", run.stderr)
        summary = [l for l in run.stderr.splitlines() if "pyroscope:" in l]
        self.assertEqual(len(summary), 1, run.stderr)
        dropped = int(summary[0].split("queue full")[0].split("(")[-1])
        self.assertGreater(dropped, 0, summary)
        self.assertIn("0 profiles uploaded", summary[0])

    def test_dead_server_does_not_stop_the_program(self):
        with Receiver() as r:
            url = r.url  # a port that nothing listens on once the receiver stops
        # A refused connection fails at once; the generous exit timeout only keeps a loaded
        # machine (libcurl still loading when the program exits) from dropping the upload
        # before its one attempt, which is what this test looks for.
        run = hstest.run_profiled([hstest.target("exact")], self.dir, env=NO_PROXY, rate=1,
                                  pyroscope_url=url, upload_timeout="20s")
        self.assertEqual(run.returncode, 0)
        self.assertIn("exact: ", run.stdout)
        self.assertRegex(run.stderr, r"upload to http://127\.0\.0\.1:\d+ failed: .*connect.*"
                                     r"\(the program is exiting: the profile is dropped")
        self.assertIn("1 at exit", run.stderr)
        self.assertEqual(len(run.profiles()), 1)  # files are written as ever


class Configuration(Upload):
    def test_bad_names_disable_uploads_only(self):
        plain = subprocess.run([hstest.target("exact")], capture_output=True, text=True,
                               env=hstest.clean_env(), timeout=60)
        cases = [({"tags": "bad-name=1"}, 'tag name "bad-name" is not valid'),
                 ({"tags": "service_name=x"}, "reserved"),
                 ({"tags": "__x=1"}, "reserved"),
                 ({"tags": "a=b,a=c"}, "given twice"),
                 ({"tags": "k=v{"}, "cannot take"),
                 ({"app_name": "my app"}, "application name"),
                 ({"pyroscope_url": "ftp://x"}, "http:// or https://"),
                 ({"pyroscope_headers": "Content-Encoding=gzip"}, "may not set"),
                 ({"pyroscope_password": "pw"}, "PYROSCOPE_USER is not")]
        with Receiver() as r:
            for cfg, why in cases:
                run = self.run_target([hstest.target("exact")], r, rate=1, **cfg)
                self.assertEqual(run.stdout, plain.stdout)
                self.assertEqual(run.returncode, 0)
                lines = run.stderr.splitlines()
                self.assertEqual(len(lines), 1, lines)
                self.assertIn("not uploading to Pyroscope", lines[0])
                self.assertIn(why, lines[0])
                self.assertEqual(len(run.profiles()), 1)
                for f in run.profiles():
                    os.unlink(f)
        self.assertEqual(r.uploads, [])

    def test_secrets_never_printed(self):
        user, password = "tenant-42", "s3cr3t-P4ss"
        header_value = "k3y,v4lue"
        basic = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
        secrets = [password, basic, header_value, "k3y%2Cv4lue"]
        echo = ("bad credentials %s %s %s" % (password, basic, header_value)).encode()
        outputs = []
        with Receiver(count_file=self.count_file(), expect_auth=(user, password),
                      expect_tenant="team-a") as r:
            r.answer(401, 503, message=echo)
            run = self.run_target(
                [hstest.target("uploads"), "wait", self.count_file(), "1"], r,
                rate=1, upload_interval="0.1s", verbose=3, pyroscope_user=user,
                pyroscope_password=password, pyroscope_tenant="team-a",
                pyroscope_headers="X-Api-Key=k3y%2Cv4lue", bogus_option="1")
            self.assert_clean(r, run)
            self.assertEqual(r.uploads[-1].headers.get("x-api-key"), header_value)
            outputs.append(run.stderr + run.stdout)
            self.assertIn("config HEAPSAMPLER_PYROSCOPE_PASSWORD=<hidden>", run.stderr)
            self.assertIn("<hidden>", run.stderr.split("HTTP 401")[1].splitlines()[0])
            # A password too long to use: the warning does not quote it.
            run = self.run_target([hstest.target("exact")], r, pyroscope_user=user,
                                  pyroscope_password=password * 500, verbose=1)
            outputs.append(run.stderr + run.stdout)
            # Credentials in the URL are refused, and not echoed.
            run = self.run_target([hstest.target("exact")], r, verbose=1,
                                  pyroscope_url="http://%s:%s@127.0.0.1:9" % (user, password))
            self.assertIn("not uploading to Pyroscope", run.stderr)
            outputs.append(run.stderr + run.stdout)
        # The CLI: flags with a secret, an error after them, the help text.
        cli = [[hstest.CLI, "run", "--pyroscope-password", password, "--bogus", "--", "true"],
               [hstest.CLI, "run", "--pyroscope-password=" + password * 500, "--", "true"],
               [hstest.CLI, "run", "--pyroscope", "http://%s:%s@h:1" % (user, password),
                "--", "true"],
               [hstest.CLI, "run", "--help"]]
        for argv in cli:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                               env=hstest.clean_env(HEAPSAMPLER_PYROSCOPE_PASSWORD=password),
                               cwd=self.dir)
            outputs.append(p.stdout + p.stderr)
        for out in outputs:
            for s in secrets:
                self.assertNotIn(s, out)


if __name__ == "__main__":
    hstest.main()
