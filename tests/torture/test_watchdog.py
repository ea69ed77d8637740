"""The watchdog itself: a run that deadlocks (two threads waiting for each other's mutex, with
the profiler preloaded) and a daemon that never exits are failures after their bound, reported
with every thread's stack (gdb batch mode) and killed: nothing is left running."""
import io
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import torture  # noqa: E402
from torture import hstest  # noqa: E402


class Watchdog(torture.Case):
    def test_deadlock_is_reported_with_stacks_and_killed(self):
        report = io.StringIO()
        env = torture.make_env(preload=(hstest.LIB,), output=os.path.join(self.dir, "prof"))
        with self.assertRaises(hstest.Hang):
            hstest.run_watched([torture.target("threads"), "deadlock"], timeout=3, env=env,
                               report=report)
        text = report.getvalue()
        self.assertIn("did not finish within 3 s", text)
        if hstest.shutil.which("gdb"):
            self.assertIn("deadlock_a", text)
            self.assertIn("deadlock_b", text)
            self.assertIn("pthread_mutex_lock", text)
        self.assertEqual(hstest._descendants(), [])

    def test_process_left_behind_is_reported_and_killed(self):
        # sh exits at once; the background sleep it leaves is still a descendant (we are a
        # subreaper) and must end within the same bound.
        report = io.StringIO()
        with self.assertRaises(hstest.Hang) as hang:
            hstest.run_watched(["/bin/sh", "-c", "sleep 600 >/dev/null 2>&1 &"], timeout=3,
                               report=report)
        self.assertIn("left processes running", str(hang.exception))
        self.assertIn("sleep 600", report.getvalue())
        self.assertEqual(hstest._descendants(), [])


if __name__ == "__main__":
    hstest.main()
