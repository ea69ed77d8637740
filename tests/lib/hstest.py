"""hstest - helpers for heapsampler's integration drivers.

Drivers run small target programs (never the test runner itself) under LD_PRELOAD, collect the
profiles they write, and read them back with the reference consumer, `go tool pprof`.
Everything a driver starts is stopped before it returns; every run has a timeout.
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
import urllib.parse

BUILD = os.environ.get("HS_BUILD_DIR") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build")
BUILD = os.path.abspath(BUILD)
SOURCE = os.path.abspath(os.environ.get("HS_SOURCE_DIR") or
                         os.path.join(os.path.dirname(__file__), "..", ".."))
LIB = os.path.join(BUILD, "libheapsampler.so")
# HS_CLI: run the drivers against another build's CLI (scripts/test.sh: the sanitizer build's).
CLI = os.environ.get("HS_CLI") or os.path.join(BUILD, "heapsampler")
TIMEOUT = 120


def target(name):
    """Path of a preload target built from tests/preload/targets/<name>.c."""
    path = os.path.join(BUILD, "tests", "hs_target_" + name)
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    return path


def clean_env(**extra):
    """The environment minus any HEAPSAMPLER_* / LD_PRELOAD of the caller, plus extra."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("HEAPSAMPLER_") and k != "LD_PRELOAD"}
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Run:
    """Result of one profiled run."""

    def __init__(self, proc, outdir, prefix):
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.outdir = outdir
        self.prefix = prefix
        self.pid = None

    def profiles(self, pid=None):
        """Numbered profile files written, oldest (lowest sequence) first (not the peak
        profile: see peak_profile)."""
        pat = self.prefix + (".%d." % pid if pid else ".") + "*.pb*"
        files = [f for f in glob.glob(pat) if ".tmp" not in f and ".peak.pb" not in f]

        def key(f):
            m = re.search(r"\.(\d+)\.(\d+)\.pb", f)
            return (int(m.group(1)), int(m.group(2))) if m else (0, 0)
        return sorted(files, key=key)

    def peak_profile(self, pid=None):
        """The peak profile <prefix>.<pid>.peak.pb* (one pid: the only one there), or None."""
        files = [f for f in glob.glob(self.prefix + (".%d" % pid if pid else ".*") + ".peak.pb*")
                 if ".tmp" not in f]
        if len(files) > 1:
            raise AssertionError("several peak profiles: %r" % files)
        return files[0] if files else None

    def last_profile(self, pid=None):
        files = self.profiles(pid)
        if not files:
            raise AssertionError("no profile written; stderr:\n" + self.stderr)
        return files[-1]


def run_profiled(argv, outdir, env=None, preload=True, timeout=TIMEOUT, stdin=None, cwd=None,
                 preexec_fn=None, **cfg):
    """Run argv with the library preloaded and HEAPSAMPLER_<KEY>=value for each cfg item.
    Profiles go to <outdir>/prof unless cfg has an output (relative to cwd, like the library)."""
    prefix = os.path.join(outdir, "prof")
    if "output" in cfg:
        prefix = os.path.join(cwd or os.getcwd(), str(cfg["output"]))
    extra = {"HEAPSAMPLER_OUTPUT": prefix}
    extra.update({"HEAPSAMPLER_" + k.upper(): v for k, v in cfg.items()})
    if preload:
        extra["LD_PRELOAD"] = LIB
    e = clean_env(**extra)
    if env:
        e.update(env)
    proc = subprocess.run(argv, env=e, capture_output=True, text=True, timeout=timeout,
                          input=stdin, cwd=cwd, preexec_fn=preexec_fn)
    return Run(proc, outdir, prefix)


def have_go():
    return shutil.which("go") is not None


class Profile:
    """A profile as `go tool pprof -raw` prints it."""

    def __init__(self, path):
        self.path = path
        out = subprocess.run(["go", "tool", "pprof", "-raw", "-symbolize=none", path],
                             capture_output=True, text=True, timeout=TIMEOUT)
        if out.returncode != 0:
            raise AssertionError("pprof could not read %s: %s" % (path, out.stderr))
        self.raw = out.stdout
        self._parse(out.stdout)

    def _parse(self, text):
        self.sample_types = []
        self.samples = []      # (values, [location ids], {label: [values]})
        self.locations = {}    # id -> (address, mapping id, [function names])
        self.mappings = {}     # id -> line
        self.period_type = None
        self.period = None
        section = None
        for line in text.splitlines():
            if line.startswith("PeriodType:"):
                self.period_type = line.split(":", 1)[1].strip()
            elif line.startswith("Period:"):
                self.period = int(line.split(":", 1)[1])
            elif line.startswith("Samples:"):
                section = "samples_header"
            elif line.startswith("Locations"):
                section = "locations"
            elif line.startswith("Mappings"):
                section = "mappings"
            elif section == "samples_header":
                # "alloc_objects/count ... inuse_space/bytes[dflt]"
                self.sample_types = [t.replace("[dflt]", "") for t in line.split()]
                self.default_type = next((t.replace("[dflt]", "") for t in line.split()
                                          if t.endswith("[dflt]")), None)
                section = "samples"
            elif section == "samples":
                m = re.match(r"^\s*([-\d ]+):\s*([\d ]*)$", line)
                if m:
                    vals = [int(v) for v in m.group(1).split()]
                    locs = [int(v) for v in m.group(2).split()]
                    self.samples.append((vals, locs, {}))
                    continue
                # String labels come several to a line: "held_by:[global:x] reach:[referenced]".
                pairs = re.findall(r"(\w+):\[([^\]]*)\]", line) if line[:1].isspace() else []
                for key, value in pairs:
                    if self.samples:
                        self.samples[-1][2][key] = value.split()
            elif section == "locations":
                # A pseudo-frame ("[allocator free]", HEAPSAMPLER_RSS_FRAMES) has no mapping
                # and a name with spaces.
                m = re.match(r"^\s*(\d+):\s*(0x[0-9a-f]+)(?:\s+M=(\d+))?\s*(.*)$", line)
                if m:
                    lid = int(m.group(1))
                    fn = m.group(4).split()
                    if m.group(4).startswith("["):
                        fn = [m.group(4)[:m.group(4).index("]") + 1]]
                    self.locations[lid] = [int(m.group(2), 16), int(m.group(3) or 0),
                                           [fn[0]] if fn else []]
                    self._last = lid
                    continue
                # an inlined caller line of the same location
                m = re.match(r"^\s+(\S+)\s+\S*:\d+", line)
                if m and getattr(self, "_last", None):
                    self.locations[self._last][2].append(m.group(1))
            elif section == "mappings":
                m = re.match(r"^\s*(\d+):\s*(.*)$", line)
                if m:
                    self.mappings[int(m.group(1))] = m.group(2)

    def index(self, name):
        """Index of a sample type, by full name ("inuse_space/bytes") or type ("inuse_space")."""
        for i, t in enumerate(self.sample_types):
            if t == name or t.split("/")[0] == name:
                return i
        raise AssertionError("no sample type %r in %r" % (name, self.sample_types))

    def site_values(self, func, types=("alloc_objects", "alloc_space", "inuse_objects",
                                       "inuse_space")):
        """Tuple of sums of the given types over samples whose leaf frame is func."""
        return tuple(self.by_function(t).get(func, 0) for t in types)

    def rows(self, func):
        """(values, size label) of each stack and size whose leaf frame is func: the samples
        that differ only in their string labels (reach=, held_by= of an exit profile) merged."""
        merged = {}
        for vals, locs, labels in self.samples:
            names = self.stack_names(locs)
            if names and names[0] == func:
                size = labels.get("bytes", [None])[0]
                key = (tuple(locs), int(size.rstrip("B")) if size else None)
                have = merged.setdefault(key, [0] * len(vals))
                merged[key] = [a + b for a, b in zip(have, vals)]
        return [(vals, key[1]) for key, vals in merged.items()]

    def stack_names(self, locs):
        names = []
        for lid in locs:
            names.extend(self.locations.get(lid, [0, 0, []])[2] or ["?"])
        return names

    def by_function(self, sample_type, frame=None):
        """Sum of a sample type per function: the leaf-most frame that is not an allocator
        frame (or the frame-th frame when frame is given)."""
        i = self.index(sample_type)
        out = {}
        for vals, locs, _ in self.samples:
            names = self.stack_names(locs)
            if frame is not None:
                key = names[frame] if len(names) > frame else "?"
            else:
                key = names[0] if names else "?"
            out[key] = out.get(key, 0) + vals[i]
        return out

    def with_function(self, sample_type, func):
        """Sum of a sample type over samples whose stack contains func anywhere."""
        i = self.index(sample_type)
        return sum(vals[i] for vals, locs, _ in self.samples
                   if func in self.stack_names(locs))

    def total(self, sample_type):
        i = self.index(sample_type)
        return sum(vals[i] for vals, _, _ in self.samples)


def comments(path):
    """A profile's comments, as `go tool pprof -comments` prints them."""
    out = subprocess.run(["go", "tool", "pprof", "-comments", path], capture_output=True,
                         text=True, timeout=TIMEOUT)
    if out.returncode != 0:
        raise AssertionError("pprof could not read %s: %s" % (path, out.stderr))
    return out.stdout.splitlines()


def meta(path):
    """(header, {key: value}) of a profile's metadata (README "Profile comments"): the first
    comment, and every key=value token of the others with its value percent-decoded."""
    lines = comments(path)
    return (lines[0] if lines else ""), meta_pairs(lines[1:])


def meta_pairs(lines):
    """{key: value} of the key=value tokens of metadata comment lines, values percent-decoded."""
    pairs = {}
    for line in lines:
        for tok in line.split(" "):
            k, eq, v = tok.partition("=")
            if eq and re.fullmatch(r"[a-z0-9_.]+", k):
                pairs[k] = urllib.parse.unquote(v, errors="surrogateescape")
    return pairs


def by_pid(files):
    """{pid: [files, in sequence order]} of profile files named <prefix>.<pid>.<seq>.pb*."""
    out = {}
    for f in sorted(files, key=lambda f: [int(x) for x in
                                          re.search(r"\.(\d+)\.(\d+)\.pb", f).groups()]):
        out.setdefault(int(re.search(r"\.(\d+)\.\d+\.pb", f).group(1)), []).append(f)
    return out


def metadata(path):
    """A heapsampler profile's metadata (README.md, "Profile comments"): (reason, detail,
    {key: value}) from `go tool pprof -comments`, values percent-decoded; the header's detail is
    "" when it has none."""
    lines = comments(path)
    m = re.match(r"^heapsampler \S+ \(([^,)]+)(?:, (.*))?\)$", lines[0] if lines else "")
    if not m:
        raise AssertionError("%s: no heapsampler header in %r" % (path, lines[:1]))
    return m.group(1), m.group(2) or "", meta_pairs(lines[1:])


def pprof_top(path, *args):
    out = subprocess.run(["go", "tool", "pprof", "-top", "-symbolize=none", *args, path],
                         capture_output=True, text=True, timeout=TIMEOUT)
    if out.returncode != 0:
        raise AssertionError("pprof -top failed: " + out.stderr)
    return out.stdout


class TempDirTest(unittest.TestCase):
    """A test case with a fresh output directory per test."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="hs-test-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def cli(self, *args, check_rc=None, env=None):
        """heapsampler ARGS in the test's directory with a clean environment (plus env); with
        check_rc, its exit status must be that."""
        e = clean_env()
        e.update(env or {})
        r = subprocess.run([CLI, *args], cwd=self.dir, env=e, capture_output=True, text=True,
                           timeout=TIMEOUT)
        if check_rc is not None:
            self.assertEqual(r.returncode, check_rc, r.stdout + r.stderr)
        return r


def main():
    if not os.path.exists(LIB):
        sys.exit("libheapsampler.so not built at %s" % LIB)
    unittest.main(verbosity=2)


# ---- symbolization: every Line of every location ------------------------------------------


class Frame:
    """One Line of a location, as `go tool pprof -raw` prints it."""

    def __init__(self, name, file, line, system_name):
        self.name = name
        self.file = file
        self.line = line
        self.system_name = system_name

    def __repr__(self):
        return "%s %s:%d (%s)" % (self.name, self.file, self.line, self.system_name)


_RAW_LINE = re.compile(r"^(?P<name>.*) (?P<file>\S*):(?P<line>-?\d+) s=(?P<start>\d+)"
                       r"(?:\((?P<sys>.*)\))?$")


def _frame(text):
    m = _RAW_LINE.match(text)
    if not m:
        raise AssertionError("unexpected location line %r" % text)
    return Frame(m.group("name"), m.group("file"), int(m.group("line")),
                 m.group("sys") if m.group("sys") is not None else m.group("name"))


class SymProfile(Profile):
    """A profile read with every Line of every location (innermost first, names may contain
    spaces as demangled C++ names do) and the mappings' symbolization flags. extra: arguments
    of `go tool pprof` placed before the file (default: -symbolize=none; give a binary to let
    pprof symbolize with it)."""

    def __init__(self, path, extra=("-symbolize=none",)):
        self.path = path
        out = subprocess.run(["go", "tool", "pprof", "-raw", *extra, path],
                             capture_output=True, text=True, timeout=TIMEOUT)
        if out.returncode != 0:
            raise AssertionError("pprof could not read %s: %s" % (path, out.stderr))
        self.raw = out.stdout
        self._parse(out.stdout)
        self.lines = {}         # location id -> [Frame]
        self.loc_mapping = {}   # location id -> mapping id
        self.map_files = {}     # mapping id -> (file, build id, flags)
        section, last = None, None
        for line in out.stdout.splitlines():
            if line.startswith("Locations"):
                section = "locations"
                continue
            if line.startswith("Mappings"):
                section = "mappings"
                continue
            if section == "locations":
                m = re.match(r"^\s*(\d+): 0x[0-9a-f]+ (?:M=(\d+) )?(?:\[F\] )?(.*)$", line)
                if m:
                    last = int(m.group(1))
                    self.loc_mapping[last] = int(m.group(2) or 0)
                    rest = m.group(3).strip()
                    self.lines[last] = [_frame(rest)] if rest else []
                elif last is not None and line.startswith("             "):
                    self.lines[last].append(_frame(line.strip()))
            elif section == "mappings":
                m = re.match(r"^\s*(\d+): \S+ (\S*)\s*([0-9a-f]*)\s*((?:\[\w+\])*)$", line)
                if m:
                    self.map_files[int(m.group(1))] = (m.group(2), m.group(3),
                                                       set(re.findall(r"\[(\w+)\]", m.group(4))))

    def stacks(self, size=None):
        """[(values, [[Frame]] per location, leaf first)] of the samples (with label bytes =
        size, if given)."""
        merged = {}  # samples of one stack that differ only in string labels (reach=) merged
        for vals, locs, labels in self.samples:
            if size is not None:
                b = labels.get("bytes", [None])[0]
                if b is None or int(b.rstrip("B")) != size:
                    continue
            have = merged.setdefault(tuple(locs), [0] * len(vals))
            merged[tuple(locs)] = [a + b for a, b in zip(have, vals)]
        return [(vals, [self.lines.get(lid, []) for lid in locs], list(locs))
                for locs, vals in merged.items()]

    def mapping_file(self, lid):
        return self.map_files.get(self.loc_mapping.get(lid, 0), ("", "", set()))[0]


def source_line(path, marker):
    """The line number of the line of path that contains "SITE:<marker>"."""
    with open(path) as f:
        for n, text in enumerate(f, 1):
            if re.search(r"SITE:%s\b" % re.escape(marker), text):
                return n
    raise AssertionError("no SITE:%s in %s" % (marker, path))


# ---- torture helpers: counts that scale, and a deadlock watchdog -----------------------------

def scale(n):
    """n times HS_TORTURE_SCALE (a float, default 1; raise it for longer local runs), >= 1."""
    return max(1, int(n * float(os.environ.get("HS_TORTURE_SCALE", "1"))))


_subreaper = False


def _become_subreaper():
    """Orphans of the programs we start (double-forking daemons) become our children, so that
    the watchdog can find, wait for and stop them."""
    global _subreaper
    if not _subreaper:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
        _subreaper = True


def _processes():
    """{pid: (state, ppid)} of every process on the machine."""
    table = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            # A command name is any bytes (a test's hostile values end up in some).
            with open("/proc/%s/stat" % d, errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        table[int(d)] = (fields[0], int(fields[1]))
    return table


def _descendants():
    """Pids of every live descendant of this process (orphans included: we are a subreaper)."""
    table = _processes()
    out, frontier = [], [os.getpid()]
    while frontier:
        p = frontier.pop()
        kids = [c for c, (state, pp) in table.items() if pp == p and state != "Z"]
        out.extend(kids)
        frontier.extend(kids)
    return out


def print_stacks(pids, out=None):
    """Every thread's stack of every pid, through gdb in batch mode, on out (stderr)."""
    out = out or sys.stderr
    for pid in pids:
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        out.write("==== watchdog: pid %d: %s\n" % (pid, cmd))
        if shutil.which("gdb") is None:
            out.write("(gdb is not installed: no stacks)\n")
            continue
        try:
            bt = subprocess.run(["gdb", "-p", str(pid), "-batch", "-nx",
                                 "-ex", "set pagination off", "-ex", "thread apply all bt"],
                                capture_output=True, text=True, timeout=120,
                                stdin=subprocess.DEVNULL)
            out.write(bt.stdout + bt.stderr)
        except subprocess.TimeoutExpired:
            out.write("(gdb did not finish)\n")
    out.flush()


def _reap_strays():
    """Reap exited orphans that were re-parented to us."""
    for pid, (state, ppid) in _processes().items():
        if ppid == os.getpid() and state == "Z":
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass


class Hang(AssertionError):
    """A watched run did not finish in time (the stacks were printed)."""


def run_watched(argv, timeout=TIMEOUT, env=None, cwd=None, stdin=None, preexec_fn=None,
                wait_all=True, text=True, report=None):
    """Run argv under the deadlock watchdog: if it (or, with wait_all, any process it left
    behind, such as a daemon) has not finished after timeout seconds, print the stacks of every
    thread of every such process with gdb (on report, default stderr), kill them all and raise
    Hang. Returns a subprocess.CompletedProcess with stdout and stderr captured."""
    import time
    _become_subreaper()
    deadline = time.monotonic() + timeout
    proc = subprocess.Popen(argv, env=env, cwd=cwd, preexec_fn=preexec_fn,
                            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(input=stdin.encode() if isinstance(stdin, str) else stdin,
                                    timeout=timeout)
    except subprocess.TimeoutExpired:
        pids = [proc.pid] + [p for p in _descendants() if p != proc.pid]
        _hang(argv, timeout, pids, report)
        proc.communicate()
        _reap_strays()
        raise Hang("timed out after %s s: %s (stacks above)" % (timeout, argv))
    # Anything it left running (a daemon) must end too, within the same deadline.
    while wait_all:
        _reap_strays()
        left = _descendants()
        if not left:
            break
        if time.monotonic() > deadline:
            _hang(argv, timeout, left, report)
            _reap_strays()
            raise Hang("left processes running after %s s: %s (stacks above)" % (timeout, argv))
        time.sleep(0.01)  # polling for an exit, with a deadline
    if text:
        out = out.decode(errors="replace")
        err = err.decode(errors="replace")
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def _hang(argv, timeout, pids, report):
    import time
    report = report or sys.stderr
    report.write("==== watchdog: %s did not finish within %s s; stacks of all threads:\n"
                 % (argv, timeout))
    print_stacks(pids, report)
    for p in pids:
        try:
            os.kill(p, 9)
        except OSError:
            pass
    # SIGKILL takes effect asynchronously: wait (bounded) until none of them runs any more.
    deadline = time.monotonic() + 30
    while set(pids) & set(_descendants()) and time.monotonic() < deadline:
        _reap_strays()
        time.sleep(0.01)  # polling for the deaths, with a deadline
