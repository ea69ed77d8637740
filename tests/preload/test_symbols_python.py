"""Lines and inlined callers in a large real program: Debian's python3 with its separate debug
file from python3.11-dbg (found through /usr/lib/debug/.build-id), link-time optimised, with
compressed DWARF. Skipped when that debug file is not installed (the package is large and not
part of bootstrap). Prints the symbolizer's figures from the profile's comments."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import hstest  # noqa: E402

PYTHON = "/usr/bin/python3"
SCRIPT = """
import json, re, collections
data = [{"id": i, "name": "item%d" % i, "tags": [i * 0.5, i * 1.5]} for i in range(100000)]
s = json.dumps(data[:20000])
back = json.loads(s)
c = collections.Counter(str(x["id"] % 97) for x in data)
words = re.findall(r"\\w+", s)
print(len(data), len(back), len(c), len(words))
"""


def build_id(path):
    out = subprocess.run(["readelf", "-n", path], capture_output=True, text=True)
    m = re.search(r"Build ID: ([0-9a-f]+)", out.stdout)
    return m.group(1) if m else None


def debug_file(path):
    bid = build_id(os.path.realpath(path)) if os.path.exists(path) else None
    if not bid:
        return None
    p = "/usr/lib/debug/.build-id/%s/%s.debug" % (bid[:2], bid[2:])
    return p if os.path.exists(p) else None


class Python3(hstest.TempDirTest):
    def test_lines_and_inlines_in_python3(self):
        if not debug_file(PYTHON):
            self.skipTest("no debug file for %s (apt-get install python3-dbg)" % PYTHON)
        run = hstest.run_profiled([PYTHON, "-c", SCRIPT], self.dir, symbolize="lines",
                                  rate="64K", env={"PYTHONMALLOC": "malloc"})
        self.assertEqual(run.returncode, 0, run.stderr)
        prof = hstest.SymProfile(run.last_profile())
        # The main mapping names the binary as it was executed (/usr/bin/python3, a symlink
        # to python3.11): pprof opens it through the link, the build ID identifies it.
        in_python = [lid for lid, mid in prof.loc_mapping.items()
                     if prof.map_files.get(mid, ("",))[0] == PYTHON]
        self.assertGreater(len(in_python), 10)
        with_lines = [lid for lid in in_python
                      if prof.lines[lid] and all(f.line > 0 for f in prof.lines[lid])]
        inlined = [lid for lid in with_lines if len(prof.lines[lid]) > 1]
        self.assertGreater(len(with_lines), len(in_python) // 2, "most frames have lines")
        self.assertGreater(len(inlined), 0, "LTO inlines are listed")
        files = {f.file for lid in with_lines for f in prof.lines[lid]}
        self.assertTrue(any(f.startswith("/") and f.endswith("Objects/obmalloc.c")
                            for f in files), sorted(files)[:10])
        comment = re.search(r"symbolizer=lines memory=(\d+) budget=(\d+) .*dwarf_files=(\d+) "
                            r"dwarf_refused=(\d+) dwarf_peak_estimate=(\d+).*time_ms=([\d.]+)",
                            prof.raw)
        self.assertTrue(comment, prof.raw)
        memory, budget, dwarf_files, refused, estimate, ms = comment.groups()
        self.assertLessEqual(int(memory), int(budget))
        self.assertGreaterEqual(int(dwarf_files), 1)
        self.assertEqual(int(refused), 0)
        print("\npython3 lines: %d locations in python3, %d with lines, %d with inlined callers; "
              "symbolizer memory %s bytes, largest libdw session estimated %.1f MiB, last "
              "batch %s ms" % (len(in_python), len(with_lines), len(inlined), memory,
                              int(estimate) / 1048576.0, ms))


if __name__ == "__main__":
    hstest.main()
