"""The --html reports of leaks, report and diff, rendered by a real browser (headless Chromium).

Each report must be one self-contained file (no script, no external reference of any kind),
and in Chromium it must show something: the screenshot is decoded (zlib + struct, no imaging
library) and must not be blank, must hold many colours, and must contain the exact colours of
the verdicts drawn (the leak's red, the plateau's blue); the rendered DOM must hold the labels
(site names, verdicts, chart titles). Chromium runs with a fresh profile directory and
everything that reaches the network switched off.
"""
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hstest  # noqa: E402
import test_analysis  # noqa: E402  (the synthetic series)

CLI = hstest.CLI
LEAK_RED = (0xd6, 0x27, 0x28)
PLATEAU_BLUE = (0x1f, 0x77, 0xb4)


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise AssertionError("Chromium is not installed (scripts/bootstrap.sh installs the Debian "
                         "package chromium)")


def decode_png(data):
    """(width, height, rows of RGB tuples' bytes) of an 8-bit RGB or RGBA PNG."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise AssertionError("not a PNG")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    if depth != 8 or colour not in (2, 6) or interlace:
        raise AssertionError("unexpected PNG format %r" % (header,))
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if f == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif f == 2:
            for i in range(stride):
                line[i] = (line[i] + prev[i]) & 0xFF
        elif f == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif f == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def colours(png):
    """Counter-like dict of RGB colours of the screenshot."""
    width, _, bpp, rows = decode_png(png)
    seen = {}
    for row in rows:
        for x in range(0, width * bpp, bpp):
            rgb = row[x:x + 3]
            seen[rgb] = seen.get(rgb, 0) + 1
    return {tuple(k): v for k, v in seen.items()}


class HtmlTest(hstest.TempDirTest):

    def cli(self, *args, rc=0):
        r = subprocess.run([CLI, *args], cwd=self.dir, env=hstest.clean_env(), capture_output=True,
                           text=True, timeout=hstest.TIMEOUT)
        self.assertEqual(r.returncode, rc, r.stdout + r.stderr)
        return r

    def browser(self, page, *mode):
        profile = os.path.join(self.dir, "chromium-profile-%d" % len(os.listdir(self.dir)))
        args = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--user-data-dir=" + profile,
                "--window-size=1280,900", *mode, "file://" + page]
        r = subprocess.run(args, capture_output=True, timeout=120, cwd=self.dir)
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace")[-2000:])
        return r.stdout

    def render(self, page):
        """(DOM text, colours of the screenshot)."""
        png = os.path.join(self.dir, os.path.basename(page) + ".png")
        self.browser(page, "--screenshot=" + png)
        with open(png, "rb") as f:
            seen = colours(f.read())
        dom = self.browser(page, "--dump-dom").decode()
        return dom, seen

    def self_contained(self, path):
        with open(path) as f:
            html = f.read()
        self.assertTrue(html.startswith("<!DOCTYPE html>"))
        for bad in ("<script", "<link", "@import", "url(", " src=", "<img", "<iframe",
                    "https:", "//fonts."):
            self.assertNotIn(bad, html, "%s: not self-contained (%s)" % (path, bad))
        # The only "http:" is the SVG namespace name, which no browser fetches.
        self.assertEqual(set(re.findall(r"http://[^\"']*", html)), {"http://www.w3.org/2000/svg"})
        return html

    def not_blank(self, seen):
        total = sum(seen.values())
        white = seen.get((255, 255, 255), 0)
        self.assertGreater(len(seen), 50, "too few colours: a blank page?")
        self.assertGreater(total - white, total // 50, "almost everything is white")

    def test_leaks_report_renders(self):
        test_analysis.write_series(self.dir)
        page = os.path.join(self.dir, "leaks.html")
        self.cli("leaks", "--html", page, ".")
        html = self.self_contained(page)
        self.assertIn("<svg", html)
        dom, seen = self.render(page)
        self.not_blank(seen)
        for label in ("heapsampler leaks", "Total inuse_space over time",
                      "Top sites over time, coloured by verdict", "time since the first profile",
                      "leak_records", "cache_store", "warm_up", "load_config", "leak suspect",
                      "plateau", "transient", "stable", "pid 4242: 12 profiles over 110.0 s"):
            self.assertIn(label, dom)
        # The chart lines are drawn in the verdicts' colours.
        self.assertIn(LEAK_RED, seen)
        self.assertIn(PLATEAU_BLUE, seen)

    def test_report_and_diff_render(self):
        paths = test_analysis.write_series(self.dir)
        report = os.path.join(self.dir, "report.html")
        self.cli("report", "--html", report, paths[-1])
        self.self_contained(report)
        dom, seen = self.render(report)
        self.not_blank(seen)
        for label in ("Top sites by inuse_space", "leak_records", "cache_store",
                      "Whiskers: ±1 sigma of sampling error."):
            self.assertIn(label, dom)
        diff = os.path.join(self.dir, "diff.html")
        self.cli("diff", "--html", diff, paths[0], paths[-1], rc=1)
        self.self_contained(diff)
        dom, seen = self.render(diff)
        self.not_blank(seen)
        for label in ("Change of inuse_space per site", "2 sites grew beyond", "leak_records",
                      "grew"):
            self.assertIn(label, dom)
        self.assertIn(LEAK_RED, seen)  # the bars of the sites that grew

    def test_names_are_escaped(self):
        hostile = '<script>alert("x")</script>&'
        for i in range(4):
            p = test_analysis.pprofgen.Profile(test_analysis.T0 + i * test_analysis.STEP)
            p.add([hostile, "main"], 4096, 5 * (i + 1), 5 * (i + 1))
            p.write(os.path.join(self.dir, "x.7.%04d.pb.gz" % i))
        page = os.path.join(self.dir, "x.html")
        self.cli("leaks", "--html", page, ".")
        html = self.self_contained(page)
        self.assertIn("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;", html)

    def test_written_whole_and_private(self):
        # Written under a temporary name nobody can guess, then renamed: no leftovers, and the
        # mode of the profiles it reports on (0600): it shows their command lines.
        test_analysis.write_series(self.dir)
        page = os.path.join(self.dir, "leaks.html")
        os.symlink("/nonexistent-target", page + ".tmp.%d" % os.getpid())
        self.cli("leaks", "--html", page, ".")
        self.assertEqual(os.stat(page).st_mode & 0o777, 0o600)
        self.assertEqual(sorted(f for f in os.listdir(self.dir) if f.startswith("leaks.html")),
                         ["leaks.html", "leaks.html.tmp.%d" % os.getpid()])

    def test_unwritable_output(self):
        test_analysis.write_series(self.dir)
        r = self.cli("leaks", "--html", "/nonexistent-dir/x.html", ".", rc=125)
        self.assertIn("heapsampler leaks: /nonexistent-dir/x.html: No such file or directory",
                      r.stderr)


if __name__ == "__main__":
    hstest.main()
