"""Output faults: a missing directory, a parent that is a file, a directory root cannot write
(sysfs, a read-only bind mount), a file size limit, a full filesystem (a small tmpfs), and
symlinks planted at the temporary name (made predictable by libs/fixedrandom) and at the final
name of a profile. Each gives one clear warning, the program runs on with the output and exit
status it has without the profiler, nothing is ever written through a symlink, no temporary file
is left behind, and a reader watching the directory never sees a partial profile; a writer
thread that cannot start costs the API requests only. Regression: a full disk killed the
program with SIGXFSZ when its exit profile was written by the exiting thread."""
import gzip
import os
import re
import resource
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import torture  # noqa: E402
from torture import hstest  # noqa: E402

# Runs its arguments in a private mount namespace after mounting something over $1.
NS_SCRIPT = 'dir="$1"; shift; %s && exec "$@"'


def namespaces_work():
    try:
        return subprocess.run(["unshare", "-m", "true"], capture_output=True,
                              timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


class OutputFaults(torture.Case):
    def faulty(self, prefix, error, wrap=(), preexec_fn=None, preload=None, mode=("api", "3"),
               extra_env=None, more=()):
        """The dumper asking for profiles that cannot be written: same output, one warning
        naming error (plus the lines in more), every API request failing with EIO."""
        argv = [torture.target("dumper")] + list(mode)
        plain = self.run_plain(argv)
        # Exact mode: profiles of ~15 KiB, more than the small limits below leave.
        # A wrapper (unshare, sh) would be profiled too: only the dumper is.
        run = self.run_profiled(list(wrap) + argv, prefix=prefix, preexec_fn=preexec_fn,
                                preload=preload, extra_env=extra_env, rate=1,
                                programs="hs_torture_dumper")
        self.assert_same(run, plain, stderr=False)
        ours = [line for line in run.stderr.splitlines() if line.startswith("heapsampler: ")]
        api = [line for line in run.stderr.splitlines() if line.startswith("dumper: ")]
        self.assertEqual(len(ours) + len(api), len(run.stderr.splitlines()), run.stderr)
        self.assertEqual(len(ours), 1 + len(more), run.stderr)
        self.assertRegex(ours[-1], r"^heapsampler: cannot write profile %s\.\d+\.0000\.pb\.gz: "
                         % prefix.replace(".", r"\.") + error)
        for m in more:
            self.assertIn(m, run.stderr)
        self.assertEqual(api, ["dumper: rc=-1 errno=EIO"] * len(api))
        return run

    def assert_empty(self, path=None):
        self.assertEqual(os.listdir(path or self.dir), [])

    def test_missing_directory(self):
        self.faulty(os.path.join(self.dir, "missing", "sub", "prof"), "No such file or directory")
        self.assert_empty()

    def test_parent_is_a_file(self):
        open(os.path.join(self.dir, "file"), "w").close()
        self.faulty(os.path.join(self.dir, "file", "prof"), "Not a directory")
        self.assertEqual(os.listdir(self.dir), ["file"])

    def test_directory_root_cannot_write(self):
        # sysfs refuses new files even to root (CI runs as root: permission bits would not do);
        # the warning must name the error the directory gives (EACCES, or EROFS in a container).
        probe = "/sys/kernel/hs-torture-probe"
        try:
            os.close(os.open(probe, os.O_CREAT | os.O_WRONLY | os.O_EXCL))
            os.unlink(probe)
            self.skipTest("/sys/kernel accepts new files here")
        except FileNotFoundError:
            self.skipTest("no /sys/kernel here")
        except OSError as e:
            error = os.strerror(e.errno)
        self.faulty("/sys/kernel/hs-torture-prof", re.escape(error))

    @staticmethod
    def in_namespace(command):
        return ["unshare", "-m", "sh", "-c", NS_SCRIPT % command, "sh"]

    def test_read_only_bind_mount(self):
        if not namespaces_work():
            self.skipTest("no mount namespaces here")
        out = os.path.join(self.dir, "ro")
        os.mkdir(out)
        wrap = self.in_namespace('mount --bind "$dir" "$dir" && '
                                 'mount -o remount,bind,ro "$dir"') + [out]
        self.faulty(os.path.join(out, "prof"), "Read-only file system", wrap=wrap)
        self.assert_empty(out)

    def test_full_filesystem(self):
        if not namespaces_work():
            self.skipTest("no mount namespaces here")
        out = os.path.join(self.dir, "small")
        os.mkdir(out)
        # 64 KiB, of which a filler takes all but 4 KiB: a profile of ~15 KiB cannot fit.
        wrap = self.in_namespace('mount -t tmpfs -o size=64k hs-torture "$dir" && '
                                 'head -c 61440 /dev/zero > "$dir/filler"') + [out]
        self.faulty(os.path.join(out, "prof"), "No space left on device", wrap=wrap)
        self.assert_empty(out)  # the tmpfs is gone with the namespace; nothing went below it

    def test_file_size_limit(self):
        def limit():
            resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        self.faulty(os.path.join(self.dir, "prof"), "File too large", preexec_fn=limit)
        self.assert_empty()

    def test_file_size_limit_exit_profile_from_the_exiting_thread(self):
        # A single-threaded program that asks for nothing never starts the writer thread: its
        # exit profile is written by the exiting thread, which does not block SIGXFSZ. It used
        # to be killed by it (status 153) instead of exiting with its own status.
        def limit():
            resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        self.faulty(os.path.join(self.dir, "prof"), "File too large", preexec_fn=limit,
                    mode=("api", "0"))
        self.assert_empty()

    def test_writer_thread_cannot_start(self):
        # pthread_create fails once (libs/failcreate): the API request that needed the thread
        # fails with ENOTSUP, the program runs on, the exit profile is written all the same.
        argv = [torture.target("dumper"), "api", "1"]
        plain = self.run_plain(argv)
        run = self.run_profiled(argv, preload=(hstest.LIB, torture.lib("failcreate")), rate=1)
        self.assert_same(run, plain, stderr=False)
        self.assertEqual(run.stderr.splitlines()[1:], ["dumper: rc=-1 errno=EOPNOTSUPP"])
        self.assertRegex(run.stderr, r"^heapsampler: cannot start the writer thread "
                         r"\(Resource temporarily unavailable\)")
        self.assertEqual(len(run.profiles()), 1)
        self.assertEqual(torture.reason(run.profiles()[0]), "exit")

    def plant(self, victim, fixed_calls=None):
        extra = {"TORTURE_FIXED_RANDOM": fixed_calls} if fixed_calls is not None else {}
        prefix = os.path.join(self.dir, "prof")
        argv = [torture.target("dumper"), "plant", prefix, victim]
        run = self.run_profiled(argv, prefix=prefix, seed=1, extra_env=extra,
                                preload=(hstest.LIB, torture.lib("fixedrandom")))
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.stdout, "dumper done\n")
        return run

    def links(self):
        return sorted(f for f in os.listdir(self.dir)
                      if os.path.islink(os.path.join(self.dir, f)))

    def test_symlink_at_temporary_name(self):
        victim = os.path.join(self.dir, "victim")
        with open(victim, "w") as f:
            f.write("victim\n")
        run = self.plant(victim)
        lines = run.stderr.splitlines()
        self.assertEqual(lines[1:], ["dumper: rc=-1 errno=EIO"] * 2, run.stderr)
        self.assertRegex(lines[0], r"^heapsampler: cannot write profile .*\.0000\.pb\.gz: "
                         r"File exists \(the program continues")
        with open(victim) as f:
            self.assertEqual(f.read(), "victim\n")
        # Nothing but the victim and the two links we planted, which are still links to it.
        self.assertEqual(len(self.links()), 2)
        self.assertEqual(sorted(set(os.listdir(self.dir)) - set(self.links())), ["victim"])
        for link in self.links():
            self.assertEqual(os.readlink(os.path.join(self.dir, link)), victim)

    def test_dangling_symlink_at_temporary_name(self):
        nothing = os.path.join(self.dir, "created-through-link")
        self.plant(nothing)
        self.assertFalse(os.path.lexists(nothing), "a file was created through the symlink")

    def test_symlink_retried_and_final_name_skipped(self):
        # Only the first temporary name is the planted one: the next try gets a fresh name.
        # A numbered profile never replaces a file: the link planted at ...0001 stays, and the
        # profile that would have been 0001 is 0002.
        victim = os.path.join(self.dir, "victim")
        with open(victim, "w") as f:
            f.write("victim\n")
        run = self.plant(victim, fixed_calls=1)
        self.assertEqual(run.stderr, "dumper: rc=0 errno=0\n" * 2)
        with open(victim) as f:
            self.assertEqual(f.read(), "victim\n")
        files = [f for f in run.profiles() if not os.path.islink(f)]
        # two API dumps and the exit
        self.assertEqual([f[-10:] for f in files], ["0000.pb.gz", "0002.pb.gz", "0003.pb.gz"],
                         os.listdir(self.dir))
        for f in files:
            self.assertEqual(os.stat(f).st_mode & 0o777, 0o600)
            hstest.Profile(f)
        # The one at the temporary name and the one at 0001, both untouched.
        self.assertEqual(len(self.links()), 2)
        for link in self.links():
            self.assertEqual(os.readlink(os.path.join(self.dir, link)), victim)

    def test_reader_never_sees_a_partial_profile(self):
        path = os.path.join(self.dir, "watched.pb.gz")
        n = hstest.scale(60)
        seen = {"complete": 0, "bad": []}
        done = threading.Event()

        def watch():
            while not done.is_set():
                for name in os.listdir(self.dir):
                    if ".tmp." in name:
                        continue
                    try:
                        with open(os.path.join(self.dir, name), "rb") as f:
                            data = f.read()
                    except FileNotFoundError:
                        continue
                    try:
                        if gzip.decompress(data):
                            seen["complete"] += 1
                    except (OSError, EOFError) as e:
                        seen["bad"].append((name, len(data), str(e)))
                time.sleep(0.001)  # pacing the scans, not synchronisation
        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            run = self.run_profiled([torture.target("dumper"), "to", path, str(n)], rate=1,
                                    interval="20ms")
        finally:
            done.set()
            watcher.join()
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.stderr, "dumper: rc=0 errno=0\n" * n)
        self.assertEqual(seen["bad"], [])
        self.assertGreater(seen["complete"], 0)
        hstest.Profile(path)
        self.assertFalse([f for f in os.listdir(self.dir) if ".tmp." in f])


if __name__ == "__main__":
    if shutil.which("unshare") is None:
        print("note: unshare not found: the mount-namespace tests will be skipped")
    hstest.main()
