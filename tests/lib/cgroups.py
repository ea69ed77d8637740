"""cgroups - memory-limited control groups for tests (cgroup v2, else the v1 memory controller).

    with cgroups.MemoryGroup(128 << 20) as g:
        proc = subprocess.run(argv, preexec_fn=g.join)   # the child runs inside the group
        g.oom_kills()                                    # OOM kills counted by the kernel

The group is created below the group of this process when the hierarchy allows it, else at the
root of the controller's mount; it is removed at the end (its processes killed first). Where no
memory group can be created (no controller mounted, read-only, not root), MemoryGroup raises
unittest.SkipTest with the reason, so that the test is skipped visibly.
"""
import os
import signal
import time
import unittest

V2_ROOT = "/sys/fs/cgroup"
V1_ROOT = "/sys/fs/cgroup/memory"


def _read(path):
    with open(path) as f:
        return f.read()


def _v2_usable():
    try:
        return "memory" in _read(os.path.join(V2_ROOT, "cgroup.controllers")).split()
    except OSError:
        return False


def _own_path(controller_name):
    """This process's group in /proc/self/cgroup for a v1 controller ("memory") or v2 ("")."""
    for line in _read("/proc/self/cgroup").splitlines():
        _, names, path = line.split(":", 2)
        if (controller_name and controller_name in names.split(",")) or \
                (not controller_name and names == ""):
            return path
    return "/"


class MemoryGroup:
    """A memory cgroup limited to `limit` bytes (swap limited too where the kernel allows, so
    that the OOM killer comes rather than swapping)."""

    def __init__(self, limit, name=None):
        self.limit = int(limit)
        self.name = name or "hs-test-%d-%d" % (os.getpid(), int(time.monotonic() * 1000))
        self.version = None
        self.path = None

    # ---- creation ----
    def __enter__(self):
        if os.geteuid() != 0:
            raise unittest.SkipTest("memory cgroups need root")
        errors = []
        if _v2_usable():
            try:
                self._make_v2()
                return self
            except OSError as e:
                errors.append("cgroup v2: %s" % e)
        if os.path.isdir(V1_ROOT):
            try:
                self._make_v1()
                return self
            except OSError as e:
                errors.append("cgroup v1: %s" % e)
        else:
            errors.append("no v1 memory controller at %s" % V1_ROOT)
        raise unittest.SkipTest("cannot create a memory cgroup (%s)" % "; ".join(errors))

    def _mkdir_under(self, root, own):
        """Try below our own group, then at the root of the mount."""
        last = None
        for parent in (os.path.join(root, own.lstrip("/")), root):
            path = os.path.join(parent, self.name)
            try:
                os.mkdir(path)
                return path
            except OSError as e:
                last = e
        raise last

    def _make_v2(self):
        own = _own_path("")
        # A v2 group with processes cannot enable controllers for its children ("no internal
        # processes"): use the root's subtree when ours has processes.
        self.path = self._mkdir_under(V2_ROOT, own)
        parent = os.path.dirname(self.path)
        if "memory" not in _read(os.path.join(parent, "cgroup.subtree_control")).split():
            with open(os.path.join(parent, "cgroup.subtree_control"), "w") as f:
                f.write("+memory")
        with open(os.path.join(self.path, "memory.max"), "w") as f:
            f.write(str(self.limit))
        try:
            with open(os.path.join(self.path, "memory.swap.max"), "w") as f:
                f.write("0")
        except OSError:
            pass
        self.version = 2

    def _make_v1(self):
        self.path = self._mkdir_under(V1_ROOT, _own_path("memory"))
        with open(os.path.join(self.path, "memory.limit_in_bytes"), "w") as f:
            f.write(str(self.limit))
        try:
            with open(os.path.join(self.path, "memory.memsw.limit_in_bytes"), "w") as f:
                f.write(str(self.limit))
        except OSError:
            pass  # no swap accounting: nothing to limit
        self.version = 1

    # ---- use ----
    def join(self):
        """preexec_fn of subprocess: move the calling (child) process into the group."""
        with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))

    def pids(self):
        try:
            return [int(p) for p in _read(os.path.join(self.path, "cgroup.procs")).split()]
        except OSError:
            return []

    def oom_kills(self):
        """OOM kills the kernel counted in this group (memory.events / memory.oom_control)."""
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        for line in _read(os.path.join(self.path, name)).splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def usage(self):
        name = "memory.current" if self.version == 2 else "memory.usage_in_bytes"
        return int(_read(os.path.join(self.path, name)))

    # ---- removal ----
    def __exit__(self, *exc):
        if not self.path:
            return False
        deadline = time.monotonic() + 30
        while self.pids() and time.monotonic() < deadline:
            for p in self.pids():
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.02)  # polling for the deaths, with a deadline
        for _ in range(100):
            try:
                os.rmdir(self.path)
                break
            except OSError:
                time.sleep(0.05)  # the kernel frees the group asynchronously
        return False
