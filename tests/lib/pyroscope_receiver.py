"""pyroscope_receiver - a stand-in for Grafana Pyroscope's /ingest endpoint, for tests.

It listens on 127.0.0.1 (an ephemeral port), checks every request the way the server does
(query grammar of `name`, format=pprof, body = one gzip member holding a pprof Profile and
nothing else, no Content-Encoding; inside the profile: the string table, ids and references,
one value per sample type, no negative value, sample and size limits; the series that the
samples' string labels make: valid label names, at most 30 names per series with the upload's
own) and records it. Each
request gets the next queued answer (`answer(503, 503)`), else the default one (`always(200)`).
A request that breaks a rule is answered 400 with the reason and the reason is kept in
`errors`, which a test expects to stay empty.

A test starts it with `with Receiver() as r:` (or start()/stop()) and reads `r.uploads`.
`count_file`, when given, is rewritten after every accepted upload with the number accepted so
far, so that a target can wait for uploads without sleeping.
"""
import base64
import http.server
import os
import re
import threading
import time
import urllib.parse
import zlib

MAX_SAMPLES = 16000
MAX_BYTES = 4 << 20
SAMPLE_TYPES = [("alloc_objects", "count"), ("alloc_space", "bytes"),
                ("inuse_objects", "count"), ("inuse_space", "bytes")]
APP_RE = re.compile(r"^[A-Za-z0-9_./-]+$")
LABEL_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RESERVED = {"service_name", "pyroscope_spy"}
SERIES_NAMES = 30       # validation.max-label-names-per-series
SERVER_NAMES = 4        # __name__, __delta__, service_name, pyroscope_spy
MAX_VALUE_LEN = 2048


# ---- a minimal protobuf decoder for profile.proto ------------------------------------------

class ProtoError(Exception):
    pass


def _varint(buf, i):
    shift = value = 0
    while True:
        if i >= len(buf):
            raise ProtoError("truncated varint")
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7
        if shift > 63:
            raise ProtoError("varint too long")


def _fields(buf):
    """(field number, wire type, value) of a message: ints for varints, bytes otherwise."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(buf, i)
        elif wt == 2:
            n, i = _varint(buf, i)
            if i + n > len(buf):
                raise ProtoError("truncated field %d" % num)
            v = buf[i:i + n]
            i += n
        elif wt == 1:
            v = int.from_bytes(buf[i:i + 8], "little")
            i += 8
        elif wt == 5:
            v = int.from_bytes(buf[i:i + 4], "little")
            i += 4
        else:
            raise ProtoError("wire type %d" % wt)
        yield num, wt, v


def _signed(v):
    return v - (1 << 64) if v >= 1 << 63 else v


def _ints(acc, wt, v, signed=False):
    """A repeated integer field, packed or not."""
    if wt == 2:
        i = 0
        while i < len(v):
            x, i = _varint(v, i)
            acc.append(_signed(x) if signed else x)
    else:
        acc.append(_signed(v) if signed else v)


def _msg(buf, spec):
    """Decode a message whose fields are all integers: spec maps number -> name."""
    out = {name: 0 for name in spec.values()}
    for num, wt, v in _fields(buf):
        if num in spec and wt == 0:
            out[spec[num]] = _signed(v)
    return out


def decode_profile(data):
    """A dict of the Profile's fields (lists of dicts for messages). Raises ProtoError."""
    p = {"sample_type": [], "sample": [], "mapping": [], "location": [], "function": [],
         "string_table": [], "comment": [], "time_nanos": 0, "duration_nanos": 0,
         "period_type": None, "period": 0, "default_sample_type": 0, "drop_frames": 0,
         "keep_frames": 0}
    for num, wt, v in _fields(data):
        if num == 1:
            p["sample_type"].append(_msg(v, {1: "type", 2: "unit"}))
        elif num == 2:
            s = {"location_id": [], "value": [], "label": []}
            for n2, w2, v2 in _fields(v):
                if n2 == 1:
                    _ints(s["location_id"], w2, v2)
                elif n2 == 2:
                    _ints(s["value"], w2, v2, signed=True)
                elif n2 == 3:
                    s["label"].append(_msg(v2, {1: "key", 2: "str", 3: "num", 4: "num_unit"}))
            p["sample"].append(s)
        elif num == 3:
            p["mapping"].append(_msg(v, {1: "id", 2: "memory_start", 3: "memory_limit",
                                         4: "file_offset", 5: "filename", 6: "build_id"}))
        elif num == 4:
            loc = {"id": 0, "mapping_id": 0, "address": 0, "line": []}
            for n2, w2, v2 in _fields(v):
                if n2 in (1, 2, 3) and w2 == 0:
                    loc[{1: "id", 2: "mapping_id", 3: "address"}[n2]] = v2
                elif n2 == 4:
                    loc["line"].append(_msg(v2, {1: "function_id", 2: "line", 3: "column"}))
            p["location"].append(loc)
        elif num == 5:
            p["function"].append(_msg(v, {1: "id", 2: "name", 3: "system_name", 4: "filename",
                                          5: "start_line"}))
        elif num == 6:
            try:
                p["string_table"].append(v.decode("utf-8"))
            except UnicodeDecodeError:
                raise ProtoError("string %d is not UTF-8" % len(p["string_table"]))
        elif num == 13:
            _ints(p["comment"], wt, v, signed=True)
        elif num == 11:
            p["period_type"] = _msg(v, {1: "type", 2: "unit"})
        elif num in (7, 8, 9, 10, 12, 14) and wt == 0:
            p[{7: "drop_frames", 8: "keep_frames", 9: "time_nanos", 10: "duration_nanos",
               12: "period", 14: "default_sample_type"}[num]] = _signed(v)
    return p


def check_profile(p):
    """Problems the server (or pprof) would have with a decoded profile; [] if none."""
    errs = []
    st = p["string_table"]
    if not st or st[0] != "":
        return ["string_table[0] is not empty"]

    def s(i, what):
        if not 0 <= i < len(st):
            errs.append("%s refers to string %d of %d" % (what, i, len(st)))
            return ""
        return st[i]

    types = [(s(t["type"], "sample type"), s(t["unit"], "sample unit"))
             for t in p["sample_type"]]
    if types != SAMPLE_TYPES:
        errs.append("sample types %r" % types)
    if p["period_type"] is None or (s(p["period_type"]["type"], "period type"),
                                    s(p["period_type"]["unit"], "period unit")) != \
            ("space", "bytes"):
        errs.append("period type is not space/bytes")
    s(p["default_sample_type"], "default_sample_type")
    for c in p["comment"]:
        s(c, "comment")
    if p["time_nanos"] <= 0:
        errs.append("time_nanos not set")
    ids = {}
    for kind in ("mapping", "location", "function"):
        seen = set()
        for e in p[kind]:
            if e["id"] == 0 or e["id"] in seen:
                errs.append("%s id %d is 0 or used twice" % (kind, e["id"]))
            seen.add(e["id"])
        ids[kind] = seen
    for m in p["mapping"]:
        s(m["filename"], "mapping filename")
        s(m["build_id"], "mapping build id")
    for f in p["function"]:
        s(f["name"], "function name")
        s(f["system_name"], "function system name")
        s(f["filename"], "function file name")
    for loc in p["location"]:
        if loc["mapping_id"] and loc["mapping_id"] not in ids["mapping"]:
            errs.append("location %d refers to mapping %d" % (loc["id"], loc["mapping_id"]))
        for ln in loc["line"]:
            if ln["function_id"] not in ids["function"]:
                errs.append("location %d refers to function %d" % (loc["id"],
                                                                   ln["function_id"]))
    if len(p["sample"]) > MAX_SAMPLES:
        errs.append("%d samples (limit %d)" % (len(p["sample"]), MAX_SAMPLES))
    for i, smp in enumerate(p["sample"]):
        if len(smp["value"]) != len(p["sample_type"]):
            errs.append("sample %d has %d values" % (i, len(smp["value"])))
        if any(v < 0 for v in smp["value"]):
            errs.append("sample %d has a negative value %r" % (i, smp["value"]))
        if not any(smp["value"]):
            errs.append("sample %d is all zero" % i)
        for lid in smp["location_id"]:
            if lid not in ids["location"]:
                errs.append("sample %d refers to location %d" % (i, lid))
        for lab in smp["label"]:
            s(lab["key"], "label key")
            s(lab["str"], "label value")
            s(lab["num_unit"], "label unit")
        if len(errs) > 20:
            break
    return errs


class Upload:
    """One accepted or refused request, decoded."""

    def __init__(self):
        self.query = {}
        self.headers = {}
        self.app = None
        self.labels = {}
        self.status = None
        self.body = b""
        self.profile = None
        self.raw_size = 0
        self.problems = []

    def total(self, sample_type):
        i = [t for t, _ in SAMPLE_TYPES].index(sample_type)
        return sum(s["value"][i] for s in self.profile["sample"])

    def leaf_names(self, sample):
        """Function names of the sample's frames, leaf first."""
        p = self.profile
        locs = {l["id"]: l for l in p["location"]}
        fns = {f["id"]: f for f in p["function"]}
        names = []
        for lid in sample["location_id"]:
            lines = locs[lid]["line"]
            names.append(p["string_table"][fns[lines[0]["function_id"]]["name"]]
                         if lines else "?")
        return names

    def by_function(self, sample_type, func):
        """Sum of a sample type over samples whose stack contains func."""
        i = [t for t, _ in SAMPLE_TYPES].index(sample_type)
        return sum(s["value"][i] for s in self.profile["sample"]
                   if func in self.leaf_names(s))

    def comments(self):
        return [self.profile["string_table"][c] for c in self.profile["comment"]]

    def sample_labels(self, sample):
        """The string labels of a sample, as a dict."""
        st = self.profile["string_table"]
        return {st[l["key"]]: st[l["str"]] for l in sample["label"] if l["str"]}

    def series(self):
        """{frozenset of sample label pairs the server adds to the upload's: [samples]}: a
        sample label named like one of the upload's is ignored, as the server does."""
        out = {}
        for smp in self.profile["sample"]:
            pairs = frozenset((k, v) for k, v in self.sample_labels(smp).items()
                              if k not in self.labels)
            out.setdefault(pairs, []).append(smp)
        return out


def check_series(u):
    """Problems of the series a profile's sample labels make (the server validates each)."""
    errs = []
    for pairs in u.series():
        for k, v in pairs:
            if not LABEL_RE.match(k) or k.startswith("__") or k in RESERVED:
                errs.append("sample label name %r" % k)
            if len(v.encode()) > MAX_VALUE_LEN:
                errs.append("sample label %r: value of %d bytes" % (k, len(v.encode())))
        names = SERVER_NAMES + len(u.labels) + len(pairs)
        if names > SERIES_NAMES:
            errs.append("a series with %d label names (limit %d)" % (names, SERIES_NAMES))
    return errs


def parse_name(name):
    """(app, {label: value}) of a `name` parameter, or raise ValueError like the server."""
    if "{" not in name:
        app, rest = name, ""
    else:
        app, rest = name.split("{", 1)
        if not rest.endswith("}"):
            raise ValueError("name %r: labels do not end with }" % name)
        rest = rest[:-1]
    if app != app.strip() or not APP_RE.match(app):
        raise ValueError("invalid service name %r" % app)
    labels = {}
    if rest:
        for item in rest.split(","):
            if "=" not in item:
                raise ValueError("label %r without =" % item)
            k, v = item.split("=", 1)
            if not LABEL_RE.match(k) or k.startswith("__") or k in RESERVED:
                raise ValueError("invalid or reserved label name %r" % k)
            if k in labels:
                raise ValueError("duplicate label %r" % k)
            if not v or v != v.strip() or any(c in v for c in "{}=,"):
                raise ValueError("invalid value %r of label %r" % (v, k))
            labels[k] = v
    if len(labels) > 26:
        raise ValueError("%d labels" % len(labels))
    return app, labels


class Receiver:
    def __init__(self, count_file=None, expect_auth=None, expect_tenant=None):
        self.uploads = []
        self.errors = []
        self.count_file = count_file
        self.expect_auth = expect_auth        # (user, password) or None
        self.expect_tenant = expect_tenant
        self._answers = []
        self._default = (200, b"", {})
        self._cond = threading.Condition()
        self.accepted = 0
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                receiver._handle(self)

            def do_GET(self):
                receiver._handle(self)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server.server_address[1]

    def _write_count(self):
        tmp = self.count_file + ".tmp"
        with open(tmp, "w") as fh:
            fh.write("%d\n" % self.accepted)
        os.replace(tmp, self.count_file)

    def start(self):
        if self.count_file:
            self._write_count()  # 0: a file left by an earlier receiver must not count
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def answer(self, *statuses, message=b"", headers=None):
        """Answer the next requests with these statuses, in order."""
        with self._cond:
            for st in statuses:
                self._answers.append((st, message, headers or {}))

    def always(self, status, message=b"", headers=None):
        with self._cond:
            self._default = (status, message, headers or {})

    def wait(self, predicate, timeout=60):
        """Wait until predicate(uploads) is true; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.uploads):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def accepted_uploads(self):
        return [u for u in self.uploads if 200 <= u.status < 300]

    # ---- checking one request ------------------------------------------------------------

    def _check(self, h, u):
        parsed = urllib.parse.urlsplit(h.path)
        if h.command != "POST":
            u.problems.append("method %s" % h.command)
        if parsed.path != "/ingest":
            u.problems.append("path %s" % parsed.path)
        pairs = urllib.parse.parse_qsl(parsed.query, keep_blank_values=True,
                                       strict_parsing=True)
        keys = [k for k, _ in pairs]
        u.query = dict(pairs)
        if sorted(keys) != sorted({"name", "from", "until", "format", "spyName"}):
            u.problems.append("query parameters %r" % keys)
        if u.query.get("format") != "pprof" or u.query.get("spyName") != "heapsampler":
            u.problems.append("format/spyName %r" % u.query)
        try:
            u.app, u.labels = parse_name(u.query.get("name", ""))
        except ValueError as e:
            u.problems.append(str(e))
        f, t = u.query.get("from", ""), u.query.get("until", "")
        if not (f.isdigit() and t.isdigit() and int(f) <= int(t) <= time.time() + 5):
            u.problems.append("from=%r until=%r" % (f, t))
        for k, v in h.headers.items():
            u.headers[k.lower()] = v
        if "content-encoding" in u.headers:
            u.problems.append("Content-Encoding %r" % u.headers["content-encoding"])
        if "multipart" in u.headers.get("content-type", ""):
            u.problems.append("multipart body")
        if self.expect_auth:
            want = "Basic " + base64.b64encode(
                ("%s:%s" % self.expect_auth).encode()).decode()
            if u.headers.get("authorization") != want:
                u.problems.append("authorization header missing or wrong")
        if self.expect_tenant and u.headers.get("x-scope-orgid") != self.expect_tenant:
            u.problems.append("X-Scope-OrgID %r" % u.headers.get("x-scope-orgid"))
        body = u.body
        if body[:2] != b"\x1f\x8b":
            u.problems.append("body is not gzip")
            return
        d = zlib.decompressobj(wbits=31)
        try:
            raw = d.decompress(body, MAX_BYTES + 1)
        except zlib.error as e:
            u.problems.append("gzip: %s" % e)
            return
        if d.unconsumed_tail or len(raw) > MAX_BYTES:
            u.problems.append("profile larger than %d bytes uncompressed" % MAX_BYTES)
            return
        if not d.eof or d.unused_data:
            u.problems.append("body is not exactly one complete gzip member")
            return
        u.raw_size = len(raw)
        try:
            u.profile = decode_profile(raw)
        except ProtoError as e:
            u.problems.append("not a pprof profile: %s" % e)
            return
        u.problems.extend(check_profile(u.profile))
        if not u.problems:
            u.problems.extend(check_series(u))

    def _handle(self, h):
        u = Upload()
        n = int(h.headers.get("Content-Length") or 0)
        u.body = h.rfile.read(n) if n else b""
        try:
            self._check(h, u)
        except Exception as e:  # a broken request must not kill the receiver
            u.problems.append("receiver: %r" % e)
        with self._cond:
            if u.problems:
                status, message, headers = 400, "; ".join(u.problems).encode(), {}
                self.errors.extend(u.problems)
            elif self._answers:
                status, message, headers = self._answers.pop(0)
            else:
                status, message, headers = self._default
            u.status = status
            self.uploads.append(u)
            if 200 <= status < 300:
                self.accepted += 1
                if self.count_file:
                    self._write_count()
            self._cond.notify_all()
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(message)))
        h.end_headers()
        h.wfile.write(message)
