"""Real Debian servers, started the ways people start them (tests/lib/servers.py: each on a free
loopback port, in this test's temporary directory, stopped by the test).

* redis-server started by a wrapper script that runs it as a child, under `heapsampler check`,
  while redis-benchmark SETs keys from a keyspace far larger than the run can fill (so they
  accumulate): check follows the script's child, judges it and fails naming the redis process
  and a function of redis-server as the leak suspect.
* nginx under `heapsampler run`, its workers running as nobody: run creates the output
  directory sticky and world-writable, the workers write their own profiles (0600, owned by
  nobody), nginx's error log has no complaint from heapsampler, and run lists every process.
* PostgreSQL started by pg_ctl (through runuser, as the postgres user) with LD_PRELOAD in its
  environment, the README's advice for services, under pgbench: its backends profile
  themselves, and their profiles name the program (postgres) and the title each backend gives
  itself; `leaks` names them so.

A server whose package is not installed is skipped with the reason (scripts/bootstrap.sh
installs them).
"""
import os
import pwd
import re
import stat
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import hstest  # noqa: E402
import servers  # noqa: E402

WRAPPER = """#!/bin/sh
# Starts the server as a child and waits for it, as many service scripts do.
"$@" &
child=$!
trap 'kill $child' TERM INT
wait $child
"""


def profiles_by_pid(d):
    return hstest.by_pid([os.path.join(d, f) for f in os.listdir(d)
                          if re.search(r"\.\d+\.\d+\.pb\.gz$", f)])


class ServersTest(hstest.TempDirTest):

    def setUp(self):
        super().setUp()
        # Servers' users (nobody, postgres) must reach what is below the test's directory.
        os.chmod(self.dir, 0o711)

    def test_redis_behind_a_script_under_check(self):
        servers.need("redis-server", "redis-benchmark", "nm")
        script = os.path.join(self.dir, "start_redis.sh")
        with open(script, "w") as f:
            f.write(WRAPPER)
        os.chmod(script, 0o755)
        keep = os.path.join(self.dir, "prof")
        check = [hstest.CLI, "check", "--rate", "64K", "--interval", "200ms", "--keep", keep,
                 "--", script]
        redis = servers.Redis(self.dir, env=hstest.clean_env(), argv_prefix=check)
        with redis:
            # 300,000 SETs of 100-byte values, keys drawn from 10^9: about 50 MiB that stay.
            redis.benchmark("-t", "set", "-r", "1000000000", "-n", "300000", "-d", "100", "-q")
        with open(os.path.join(redis.dir, "stdout.log")) as f:
            out = f.read()
        if os.environ.get("HS_SHOW_OUTPUT"):
            print(out)
        self.assertEqual(redis.proc.returncode, 1, out[-4000:])
        server = [pid for pid, files in profiles_by_pid(keep).items()
                  if hstest.meta(files[-1])[1].get("program") == "redis-server"]
        self.assertEqual(len(server), 1, out[-4000:])
        self.assertRegex(out, r"(?m)^heapsampler check: \d+ process(es)? wrote profiles: .*"
                              r"pid %d redis-server \(\d+ profiles\)" % server[0])
        fails = re.findall(r"(?m)^heapsampler check: FAIL: pid (\d+) (\S*redis-server \S+): "
                           r"leak suspect (\S+) grows", out)
        self.assertTrue(fails, out[-4000:])
        symbols = set(subprocess.run(["nm", "-D", "--defined-only", redis.server],
                                     capture_output=True, text=True, check=True,
                                     timeout=60).stdout.split())
        for pid, title, site in fails:
            self.assertEqual(int(pid), server[0])
            self.assertIn("127.0.0.1:%d" % redis.port, title)  # the title redis gives itself
            self.assertIn(site, symbols, "not a function of redis-server")
            # Seen through redis's allocator wrappers (zmalloc and the like): their caller.
            self.assertNotRegex(site, r"^z(try)?(malloc|calloc|realloc|strdup)", out[-4000:])

    def test_nginx_workers_as_nobody_under_run(self):
        servers.need("nginx", "wrk")
        nobody = pwd.getpwnam("nobody")
        if os.geteuid() != 0:
            self.skipTest("nginx switches its workers to nobody only when started as root")
        out = os.path.join(self.dir, "prof")  # run creates it
        run = [hstest.CLI, "run", "-o", out + "/", "-i", "200ms", "-r", "16K", "--"]
        nginx = servers.Nginx(self.dir, env=hstest.clean_env(), workers=2, argv_prefix=run)
        with nginx:
            servers.wrk(nginx.url(), seconds=2)
        self.assertEqual(nginx.proc.returncode, 0)
        st = os.stat(out)
        self.assertEqual((st.st_uid, stat.S_IMODE(st.st_mode)), (0, 0o1777))
        self.assertNotIn("heapsampler", nginx.error_log())
        with open(os.path.join(nginx.dir, "stdout.log")) as f:
            listing = f.read()
        workers = {}
        for pid, files in profiles_by_pid(out).items():
            _, m = hstest.meta(files[-1])
            self.assertEqual(m["program"], "nginx")
            if m.get("title", "").startswith("nginx: worker process"):
                workers[pid] = files
            self.assertRegex(listing, r"(?m)^heapsampler:   pid %d nginx \(nginx: [^\n]*\): %d "
                                      r"profiles? written:" % (pid, len(files)))
        self.assertEqual(len(workers), 2, listing)
        for files in workers.values():
            for f in files:
                st = os.stat(f)
                self.assertEqual((st.st_uid, stat.S_IMODE(st.st_mode)),
                                 (nobody.pw_uid, 0o600), f)
            self.assertGreater(hstest.Profile(files[-1]).total("alloc_space"), 0)

    def test_postgres_started_by_pg_ctl_with_ld_preload(self):
        out = os.path.join(self.dir, "prof")
        os.mkdir(out)
        os.chmod(out, 0o1777)  # the service's user writes there
        env = hstest.clean_env(LD_PRELOAD=hstest.LIB, HEAPSAMPLER_OUTPUT=out + "/",
                               HEAPSAMPLER_INTERVAL="500ms", HEAPSAMPLER_RATE="64K")
        with servers.Postgres(self.dir, env=env) as pg:
            pg.pgbench("-i", "-s", "1", "-q")
            pg.pgbench("-c", "4", "-j", "2", "-T", "4")
        backends, postgres_uid = [], pwd.getpwnam("postgres").pw_uid
        for pid, files in profiles_by_pid(out).items():
            _, m = hstest.meta(files[-1])
            if m.get("program") != "postgres":
                continue
            self.assertEqual(m["exe"], os.path.join(servers.PG_BIN, "postgres"))
            self.assertEqual(os.stat(files[-1]).st_uid, postgres_uid)
            if re.match(r"postgres: postgres postgres 127\.0\.0\.1\(\d+\) ", m.get("title", "")):
                backends.append((pid, m["title"]))
        self.assertGreaterEqual(len(backends), 4, sorted(os.listdir(out)))
        leaks = subprocess.run([hstest.CLI, "leaks", out], capture_output=True, text=True,
                               timeout=hstest.TIMEOUT)
        self.assertEqual(leaks.returncode, 0, leaks.stderr)
        for pid, title in backends:
            self.assertRegex(leaks.stdout, r"(?m)^heapsampler leaks: pid %d %s[,:]"
                             % (pid, re.escape(title)))


if __name__ == "__main__":
    hstest.main()
