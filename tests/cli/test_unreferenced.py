"""What the CLI shows of the exit profile's reachability scan: `report`'s unreferenced column
and --holders, `leaks`'s share of each leak suspect that no pointer reaches, and
`check --max-unreferenced`, on targets with known answers (tests/preload/targets/reach.c,
lost.c, exact.c)."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import hstest  # noqa: E402

CLI = hstest.CLI


def cli(*args, env=None):
    e = hstest.clean_env()
    if env:
        e.update(env)
    return subprocess.run([CLI, *args], env=e, capture_output=True, text=True,
                          timeout=hstest.TIMEOUT)


class Unreferenced(hstest.TempDirTest):
    def exit_profile(self, *args, **cfg):
        run = hstest.run_profiled([hstest.target("reach"), *args], self.dir, rate=1, **cfg)
        self.assertEqual(run.returncode, 0, run.stderr)
        return run.last_profile()

    def test_report_column_and_holders(self):
        path = self.exit_profile()
        r = cli("report", path, "--holders", "--top", "0")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("reachability scan: unreferenced (no pointer reaches it: lost) 19.5 KiB",
                      r.stdout)
        self.assertRegex(r.stdout, r"19\.5 KiB  ±\s+0 B\s+\S+%\s+19\.5 KiB  ±\s+0 B  "
                                   r"lost_overwritten")
        lines = r.stdout.splitlines()
        at = next(i for i, l in enumerate(lines) if l.endswith("  push_node"))
        self.assertRegex(lines[at + 1], r"^\s+17\.6 KiB  held by heap:push_node$")
        self.assertRegex(lines[at + 2], r"^\s+1\.95 KiB  held by global:list_head$")
        r = cli("report", path, "--holders", "--json", "--top", "0")
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        sites = {s["site"]: s for s in doc["sites"]}
        self.assertEqual(doc["unreferenced"], 20000)
        self.assertTrue(doc["reach_complete"])
        self.assertEqual(sites["lost_overwritten"]["unreferenced"], 20000)
        self.assertEqual(sites["fill_interior"]["unreferenced"], 0)
        self.assertEqual(sites["fill_interior"]["holders"],
                         [{"held_by": "global:interior", "value": 30000}])
        self.assertEqual(sites["mmap_holder"]["holders"], [{"held_by": "mmap", "value": 25000}])
        self.assertEqual(sites["stack_holder"]["holders"], [{"held_by": "stack", "value": 20000}])
        # The focus narrows the column like the rest of the report.
        r = cli("report", path, "--focus", "reach=unreferenced", "--json")
        self.assertEqual({s["site"] for s in json.loads(r.stdout)["sites"]}, {"lost_overwritten"})

    def test_report_without_a_scan(self):
        path = self.exit_profile(reach="off")
        r = cli("report", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("unreferenced", r.stdout)
        r = cli("report", path, "--holders")
        self.assertEqual(r.returncode, 0)
        self.assertIn("--holders: the profile has no reachability scan", r.stderr)

    def test_check_max_unreferenced(self):
        # A lossy run fails, naming the sites that lost memory; a clean one passes.
        r = cli("check", "--rate", "1", "--max-growth", "off", "--max-unreferenced", "1K", "--",
                hstest.target("lost"))
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertRegex(r.stderr, r"FAIL: pid \d+ [^:\n]*: unreferenced at exit \(lost\) "
                                   r"[\d.]+ KiB ± 0 B > --max-unreferenced 1\.00 KiB "
                                   r"\(direct_leak")
        r = cli("check", "--rate", "1", "--max-growth", "off", "--max-unreferenced", "0", "--",
                hstest.target("exact"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("check: passed", r.stderr)
        # Held memory is not lost: the same program passes however much it holds.
        r = cli("check", "--rate", "1", "--max-growth", "off", "--max-unreferenced", "20000",
                "--", hstest.target("reach"))
        self.assertEqual(r.returncode, 0, r.stderr)
        # Without a scan the gate cannot pass.
        r = cli("check", "--rate", "1", "--max-growth", "off", "--max-unreferenced", "1K", "--",
                hstest.target("lost"), env={"HEAPSAMPLER_REACH": "off"})
        self.assertEqual(r.returncode, 125, r.stderr)
        self.assertIn("the exit profile has no reachability scan", r.stderr)

    def test_leaks_tells_lost_from_held(self):
        # Two sites grow alike: one loses its blocks, the other keeps them on a global list.
        # (The target writes a profile every 100 steps: the series does not depend on timing.)
        r = cli("check", "--interval", "1h", "--max-growth", "off",
                "--keep", os.path.join(self.dir, "kept"), "--", hstest.target("reach"),
                "grow", "1500")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = cli("leaks", os.path.join(self.dir, "kept"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("lost or held (the exit profile's reachability scan):", r.stdout)
        self.assertRegex(r.stdout, r"(?m)^  grow_lost: unreferenced ([\d.]+ MiB) ± [\d.]+ MiB "
                                   r"of \1 \(100%\)$")
        self.assertRegex(r.stdout, r"(?m)^  grow_held: unreferenced 0 B ± 0 B of [\d.]+ MiB "
                                   r"\(0%\); the rest mostly held by (heap|global:grow_list) ")
        # The same in --json, for every site shown, with the scan it comes from.
        r = cli("leaks", "--json", os.path.join(self.dir, "kept"))
        self.assertEqual(r.returncode, 0, r.stderr)
        (proc,) = json.loads(r.stdout)["processes"]
        self.assertTrue(proc["reach"]["complete"], proc["reach"])
        self.assertTrue(proc["reach"]["file"].endswith(".pb.gz"), proc["reach"])
        sites = {s["site"]: s for s in proc["sites"]}
        lost, held = sites["grow_lost"], sites["grow_held"]
        self.assertEqual(lost["unreferenced"], lost["values"][-1])
        self.assertGreater(lost["unreferenced_stderr"], 0)
        self.assertIsNone(lost["held_by"])
        self.assertEqual((held["unreferenced"], held["unreferenced_stderr"]), (0, 0))
        self.assertIn(held["held_by"]["holder"], ("heap", "global:grow_list"))
        self.assertGreater(held["held_by"]["value"], 0)
        # And in --html, as a table under the verdicts.
        page = os.path.join(self.dir, "leaks.html")
        r = cli("leaks", "--html", page, os.path.join(self.dir, "kept"))
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(page) as f:
            html = f.read()
        self.assertIn("lost or held (the exit profile&#39;s reachability scan):", html)
        self.assertRegex(html, r"<td>grow_lost</td><td>([\d.]+ MiB)</td><td>[\d.]+ MiB</td>"
                               r"<td>\1</td><td>100%</td><td></td>")
        self.assertRegex(html, r"<td>grow_held</td><td>0 B</td><td>0 B</td><td>[\d.]+ MiB</td>"
                               r"<td>0%</td><td>(heap|global:grow_list) \([\d.]+ MiB\)</td>")
        # Without a scan: "reach" is null and the sites carry none of its keys.
        r = cli("check", "--interval", "1h", "--max-growth", "off",
                "--keep", os.path.join(self.dir, "noscan"), "--", hstest.target("reach"),
                "grow", "1500", env={"HEAPSAMPLER_REACH": "off"})
        self.assertEqual(r.returncode, 0, r.stderr)
        r = cli("leaks", "--json", os.path.join(self.dir, "noscan"))
        (proc,) = json.loads(r.stdout)["processes"]
        self.assertIsNone(proc["reach"])
        self.assertFalse([s for s in proc["sites"] if "unreferenced" in s or "held_by" in s])


if __name__ == "__main__":
    hstest.main()
