"""Symbols at the `lines` level in a binary without .debug_aranges, as clang writes them by
default: every sampled site still gets its file and line, exactly as in the same program built
with the section (regression: without it, no address found its compilation unit, and a clang
program's profile had no lines at all)."""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import torture  # noqa: E402
from torture import hstest  # noqa: E402


class Lines(torture.Case):
    def lines_of(self, target):
        run = self.run_profiled([torture.target(target)], rate=1, symbolize="lines",
                                prefix=os.path.join(self.dir, target))
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.stderr, "")
        sym = hstest.SymProfile(run.profiles()[-1])
        found = {}
        for frames in sym.lines.values():
            for f in frames:
                if f.name.startswith("lines_") and f.name.endswith("_site"):
                    found.setdefault(f.name, set()).add((os.path.basename(f.file), f.line))
        expected = {}
        for line in run.stdout.splitlines():
            site, n = line.split(" line=")
            expected[site] = {("lines.c", int(n))}
        self.assertEqual(found, expected)
        return found

    def test_without_debug_aranges(self):
        sections = hstest.subprocess.run(["readelf", "-S", torture.target("lines_noaranges")],
                                         capture_output=True, text=True).stdout
        self.assertNotIn(".debug_aranges", sections)
        self.assertEqual(self.lines_of("lines_noaranges"), self.lines_of("lines"))


if __name__ == "__main__":
    hstest.main()
