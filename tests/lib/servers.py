"""servers - real Debian servers for integration tests: redis-server, PostgreSQL, nginx.

Each server is started by the test on a free loopback port, in a temporary directory of its
own, and stopped by it (also when the test fails: use it as a context manager). Nothing listens
on anything but 127.0.0.1. A server whose package is not installed raises unittest.SkipTest
with the reason, so that the skip is visible in the test's output.

    with servers.Redis(tmpdir, env=hstest.clean_env(LD_PRELOAD=...)) as r:
        r.cli("SET", "k", "v")

`env` is the environment the server starts with (the profiler's variables go there); `argv`
prefixes let a test start a server through a wrapper (a script, `heapsampler run`, ...).
"""
import os
import shutil
import signal
import socket
import subprocess
import time
import unittest

PG_BIN = "/usr/lib/postgresql/15/bin"
START_TIMEOUT = 60
STOP_TIMEOUT = 60


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def need(*programs):
    """Skip (visibly) unless every program is installed; returns their paths."""
    paths = []
    for p in programs:
        path = p if os.path.isabs(p) and os.access(p, os.X_OK) else shutil.which(p)
        if not path:
            raise unittest.SkipTest("%s is not installed (scripts/bootstrap.sh installs it)" % p)
        paths.append(path)
    return paths


def wait_port(port, proc=None, timeout=START_TIMEOUT, what="server"):
    """Wait until 127.0.0.1:port accepts connections; fail early if proc exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError("%s exited with status %s before listening on port %d"
                                 % (what, proc.returncode, port))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)  # polling for a listener, with a deadline
    raise AssertionError("%s did not listen on port %d within %d s" % (what, port, timeout))


def _stop(proc, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
    """Stop a process started with its own process group: sig, then SIGKILL to the group."""
    if proc is None or proc.poll() is not None:
        return proc.returncode if proc else None
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return proc.wait(timeout=timeout)


class Server:
    """Common life cycle: start() in __enter__, stop() in __exit__ (always)."""

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


class Redis(Server):
    """redis-server in the foreground, no persistence, on a free port.

    argv_prefix: run it through this (e.g. ["sh", "start_redis.sh"] where the script execs or
    runs `"$@"`); extra: more redis-server arguments (e.g. ["--maxmemory", "32mb"])."""

    def __init__(self, workdir, env=None, extra=(), argv_prefix=()):
        self.server, self.cli_path, self.bench_path = need("redis-server", "redis-cli",
                                                           "redis-benchmark")
        self.dir = os.path.join(workdir, "redis")
        os.makedirs(self.dir, exist_ok=True)
        self.env = env
        self.port = free_port()
        self.argv = list(argv_prefix) + [
            self.server, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
            "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile",
            os.path.join(self.dir, "redis.log"), "--protected-mode", "no"] + list(extra)
        self.proc = None

    def start(self):
        self.log = open(os.path.join(self.dir, "stdout.log"), "wb")
        self.proc = subprocess.Popen(self.argv, env=self.env, stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        wait_port(self.port, self.proc, what="redis-server")

    def cli(self, *args, check=True):
        out = subprocess.run([self.cli_path, "-h", "127.0.0.1", "-p", str(self.port)] +
                             [str(a) for a in args], capture_output=True, text=True,
                             timeout=STOP_TIMEOUT)
        if check and out.returncode != 0:
            raise AssertionError("redis-cli %s: %s" % (args, out.stderr))
        return out.stdout.strip()

    def benchmark(self, *args, timeout=600):
        """redis-benchmark against this server; returns its CSV output."""
        out = subprocess.run([self.bench_path, "-h", "127.0.0.1", "-p", str(self.port),
                              "--csv"] + [str(a) for a in args], capture_output=True, text=True,
                             timeout=timeout)
        if out.returncode != 0:
            raise AssertionError("redis-benchmark %s: %s" % (args, out.stderr))
        return out.stdout

    def stop(self):
        """Shut down through the protocol (the exit path of the server runs: its exit profile
        is written), then by signal if it does not go."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            subprocess.run([self.cli_path, "-h", "127.0.0.1", "-p", str(self.port), "shutdown",
                            "nosave"], capture_output=True, timeout=STOP_TIMEOUT)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        rc = _stop(self.proc)
        self.log.close()
        return rc


class Postgres(Server):
    """A PostgreSQL 15 cluster in a temporary directory, started with pg_ctl as the `postgres`
    user (the server refuses to run as root) on a free port, Unix socket in the directory.

    env: the environment of pg_ctl (the postmaster and its backends inherit it)."""

    def __init__(self, workdir, env=None, user="postgres"):
        need(os.path.join(PG_BIN, "initdb"), os.path.join(PG_BIN, "pg_ctl"), "runuser")
        self.user = user
        self.dir = os.path.join(workdir, "pg")
        self.data = os.path.join(self.dir, "data")
        # The server's user must reach its directory: a temporary directory is 0700 root.
        os.chmod(workdir, os.stat(workdir).st_mode | 0o711)
        os.makedirs(self.dir, exist_ok=True)
        shutil.chown(self.dir, user=user)
        self.env = env
        self.port = free_port()
        self.started = False

    def _as_user(self, argv, env=None, timeout=START_TIMEOUT, check=True):
        """argv as self.user (runuser keeps the environment we give it with --preserve)."""
        full = ["runuser", "-u", self.user, "--"] + argv
        e = dict(env if env is not None else os.environ)
        e.setdefault("HOME", self.dir)
        out = subprocess.run(full, env=e, capture_output=True, text=True, timeout=timeout,
                             cwd=self.dir)
        if check and out.returncode != 0:
            raise AssertionError("%s: status %d\n%s%s" % (" ".join(argv), out.returncode,
                                                         out.stdout, out.stderr))
        return out

    def start(self):
        clean = {k: v for k, v in os.environ.items()
                 if not k.startswith("HEAPSAMPLER_") and k != "LD_PRELOAD"}
        self._as_user([os.path.join(PG_BIN, "initdb"), "-D", self.data, "-A", "trust", "-U",
                       "postgres", "--no-sync"], env=clean, timeout=120)
        opts = "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off" % (self.port, self.dir)
        self._as_user([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-o", opts, "-l",
                       os.path.join(self.dir, "server.log"), "-w", "-t", str(START_TIMEOUT),
                       "start"], env=self.env)
        self.started = True

    def psql(self, sql):
        out = self._as_user(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                             "-At", "-c", sql], env=None)
        return out.stdout.strip()

    def pgbench(self, *args, timeout=600):
        return self._as_user(["pgbench", "-h", "127.0.0.1", "-p", str(self.port), "-U",
                              "postgres"] + [str(a) for a in args] + ["postgres"],
                             timeout=timeout).stdout

    def postmaster_pid(self):
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            return int(f.readline())

    def stop(self):
        if not self.started:
            return
        self.started = False
        out = self._as_user([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-m", "fast",
                             "-w", "-t", str(STOP_TIMEOUT), "stop"], check=False,
                            timeout=STOP_TIMEOUT + 10)
        if out.returncode != 0:
            try:
                os.kill(self.postmaster_pid(), signal.SIGKILL)
            except (OSError, ValueError):
                pass


NGINX_CONF = """\
user %(user)s %(group)s;
worker_processes %(workers)d;
daemon off;
pid %(dir)s/nginx.pid;
error_log %(dir)s/error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path %(dir)s/body;
    proxy_temp_path %(dir)s/proxy;
    fastcgi_temp_path %(dir)s/fastcgi;
    uwsgi_temp_path %(dir)s/uwsgi;
    scgi_temp_path %(dir)s/scgi;
    server {
        listen 127.0.0.1:%(port)d;
        location / { return 200 "hello\\n"; }
        location /static { root %(dir)s/www; }
    }
}
"""


class Nginx(Server):
    """nginx in the foreground (master + workers), workers running as `user` (nobody by
    default, as Debian's configuration does with www-data), on a free port.

    argv_prefix: run it through this (e.g. [heapsampler, "run", "--"])."""

    def __init__(self, workdir, env=None, workers=2, user="nobody", group="nogroup",
                 argv_prefix=()):
        (self.nginx,) = need("nginx")
        self.dir = os.path.join(workdir, "nginx")
        os.makedirs(os.path.join(self.dir, "www", "static"), exist_ok=True)
        with open(os.path.join(self.dir, "www", "static", "index.html"), "w") as f:
            f.write("<p>static</p>\n" * 64)
        self.port = free_port()
        self.conf = os.path.join(self.dir, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(NGINX_CONF % {"user": user, "group": group, "workers": workers,
                                  "dir": self.dir, "port": self.port})
        self.env = env
        self.argv = list(argv_prefix) + [self.nginx, "-p", self.dir, "-c", self.conf]
        self.proc = None

    def start(self):
        self.log = open(os.path.join(self.dir, "stdout.log"), "wb")
        self.proc = subprocess.Popen(self.argv, env=self.env, stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        wait_port(self.port, self.proc, what="nginx")

    def url(self, path="/"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def error_log(self):
        try:
            with open(os.path.join(self.dir, "error.log")) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        """Graceful stop (SIGQUIT: workers finish and exit, their exit profiles are written)."""
        if self.proc is None:
            return None
        rc = _stop(self.proc, sig=signal.SIGQUIT)
        self.log.close()
        return rc


def wrk(url, seconds=3, threads=2, connections=16, timeout=120):
    """Requests per second that wrk measured against url."""
    (path,) = need("wrk")
    out = subprocess.run([path, "-t", str(threads), "-c", str(connections), "-d",
                          "%ds" % seconds, url], capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise AssertionError("wrk: %s" % out.stderr)
    for line in out.stdout.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    raise AssertionError("wrk printed no rate:\n" + out.stdout)
