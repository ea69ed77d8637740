"""pprofgen - write pprof heap profiles with chosen contents, for tests of the analysis commands.

A tiny protobuf encoder for proto/profile.proto (the field numbers are the spec's), so that
tests can build exactly the series they need: known sample counts per (stack, size) row, with
or without the numeric "bytes" label, with string labels ({"endpoint": "/orders"}), with any
period, time stamp and sample types. Values are
the estimates heapsampler's writer computes from n sampled allocations of size s at rate R:
objects = round(n / p), bytes = round(n * s / p), p = 1 - exp(-s / R) (R = 1: p = 1).
"""
import gzip
import math
import zlib

HEAP_TYPES = (("alloc_objects", "count"), ("alloc_space", "bytes"),
              ("inuse_objects", "count"), ("inuse_space", "bytes"))


def _varint(v):
    if v < 0:
        v += 1 << 64
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(field, wire):
    return _varint(field << 3 | wire)


def _int(field, v):
    return _key(field, 0) + _varint(v) if v else b""


def _bytes(field, data):
    return _key(field, 2) + _varint(len(data)) + data


def _packed(field, values):
    if not values:
        return b""
    return _bytes(field, b"".join(_varint(v) for v in values))


def estimate(n, size, rate):
    """(objects, bytes) estimates of n samples of size bytes, rounded like the writer."""
    p = 1.0 if rate <= 1 else -math.expm1(-size / rate)
    return int(round(n / p)), int(round(n * size / p))


class Profile:
    """One profile. Stacks are lists of function names, innermost first; an integer in a stack
    is a frame without a symbol at that offset of the one mapping, `binary` (/bin/app: named
    app+0x...)."""

    def __init__(self, time_nanos, period=524288, types=HEAP_TYPES, default="inuse_space",
                 period_type=("space", "bytes"), comments=(), binary="/bin/app"):
        self.strings = [""]
        self.index = {"": 0}
        self.time_nanos = time_nanos
        self.period = period
        self.types = types
        self.default = default
        self.period_type = period_type
        self.comments = list(comments)
        self.binary = binary  # the file of the one mapping (the main executable)
        self.samples = []   # (location ids, values, labels)
        self.functions = {}  # name -> id
        self.locations = {}  # (name, address) -> id

    def _s(self, s):
        if s not in self.index:
            self.index[s] = len(self.strings)
            self.strings.append(s)
        return self.index[s]

    def _location(self, name, address):
        if isinstance(name, int):
            name, address = None, 0x1000 + name
        key = (name, address)
        if key not in self.locations:
            if name is not None and name not in self.functions:
                self.functions[name] = len(self.functions) + 1
            self.locations[key] = len(self.locations) + 1
        return self.locations[key]

    def add_raw(self, stack, values, size=None, labels=None):
        """A sample with explicit values (one per sample type), an optional size label and
        string labels (a dict)."""
        locs = [self._location(name, 0x1000 + 0x10 * depth +
                               0x100 * (zlib.crc32(str(name).encode()) % 4096))
                for depth, name in enumerate(stack)]
        nums = [("bytes", size)] if size is not None else []
        strs = sorted((labels or {}).items())
        self.samples.append((locs, list(values), (nums, strs)))

    def add(self, stack, size, allocs, live, label=True, labels=None):
        """A row of `allocs` sampled allocations of `size` bytes, `live` of them still live,
        with string labels (a dict) if given."""
        ao, ab = estimate(allocs, size, self.period)
        io, ib = estimate(live, size, self.period)
        by_type = {"alloc_objects": ao, "alloc_space": ab, "inuse_objects": io, "inuse_space": ib}
        self.add_raw(stack, [by_type[t] for t, _ in self.types], size if label else None, labels)

    def encode(self):
        out = bytearray()
        for t, u in self.types:
            out += _bytes(1, _int(1, self._s(t)) + _int(2, self._s(u)))
        for locs, values, (nums, strs) in self.samples:
            body = _packed(1, locs) + _packed(2, values)
            for key, num in nums:
                body += _bytes(3, _int(1, self._s(key)) + _int(3, num))
            for key, value in strs:
                body += _bytes(3, _int(1, self._s(key)) + _int(2, self._s(value)))
            out += _bytes(2, body)
        mapping = _int(1, 1) + _int(2, 0x1000) + _int(3, 0x2000000) + _int(5, self._s(self.binary))
        out += _bytes(3, mapping)
        for (name, address), lid in sorted(self.locations.items(), key=lambda kv: kv[1]):
            line = _bytes(4, _int(1, self.functions[name])) if name is not None else b""
            out += _bytes(4, _int(1, lid) + _int(2, 1) + _int(3, address) + line)
        for name, fid in sorted(self.functions.items(), key=lambda kv: kv[1]):
            out += _bytes(5, _int(1, fid) + _int(2, self._s(name)) + _int(3, self._s(name)) +
                          _int(4, self._s("app.c")))
        comments = [self._s(c) for c in self.comments]
        period_type = None
        if self.period_type:
            period_type = _int(1, self._s(self.period_type[0])) + \
                _int(2, self._s(self.period_type[1]))
        default = self._s(self.default) if self.default else 0
        tail = bytearray()
        tail += _int(9, self.time_nanos)
        if period_type is not None:
            tail += _bytes(11, period_type)
        tail += _int(12, self.period)
        for c in comments:
            tail += _int(13, c)
        tail += _int(14, default)
        for s in self.strings:  # after every _s() call
            out += _bytes(6, s.encode())
        return bytes(out + tail)

    def write(self, path, compress=True):
        data = self.encode()
        if compress:
            data = gzip.compress(data, mtime=0)
        with open(path, "wb") as f:
            f.write(data)
        return path

