"""workload.py - the python3 workload of scripts/bench.sh: allocation-heavy, deterministic.

Run with PYTHONMALLOC=malloc so that every object is a malloc/free/realloc call. Builds records
(dicts, lists, strings), round-trips them through json, indexes and sorts them; a fixed seed
makes every run do the same work. Prints one checksum line.

    python3 workload.py ROUNDS [RECORDS_PER_ROUND]
"""
import json
import random
import sys


def make_record(rng, i):
    return {
        "id": i,
        "name": "user%d" % i,
        "tags": ["t%d" % rng.randrange(200) for _ in range(rng.randrange(1, 12))],
        "score": rng.random(),
        "blob": "x" * rng.randrange(0, 1500),
    }


def one_round(rng, n):
    records = [make_record(rng, i) for i in range(n)]
    text = json.dumps(records)
    back = json.loads(text)
    index = {}
    for r in back:
        for t in r["tags"]:
            index.setdefault(t, []).append(r["id"])
    words = text.split(",")
    words.sort()
    joined = "".join(w.upper() for w in words[: n * 2])
    pairs = sorted((len(v), k) for k, v in index.items())
    return len(text) + len(joined) + len(pairs) + sum(len(v) for v in index.values())


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    records = int(sys.argv[2]) if len(sys.argv) > 2 else 8000
    rng = random.Random(20240601)
    total = 0
    for _ in range(rounds):
        total += one_round(rng, records)
    print("python workload rounds=%d checksum=%d" % (rounds, total))


if __name__ == "__main__":
    main()
