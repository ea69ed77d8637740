#!/usr/bin/env python3
"""check_layout.py - the dependency rules of src/README.md, checked on the sources.

Usage: check_layout.py [SRC_DIR]   (default: the src/ next to this tree's tests/)

Reads every #include "..." of src/<folder>/*.[ch] and fails (exit 1, one line per problem) on:
  * an include of a header that no folder of src/ (or the generated pprof schema, or the public
    header) provides, or that two folders provide (file names must be unique);
  * an edge between folders that src/README.md does not allow (the table FOLDER_DEPS below,
    which must match the README's);
  * a cycle between modules, where a module is a .c file and its .h: module A depends on B when
    A.c or A.h includes B.h. Two modules that include each other's headers, directly or around a
    loop, are reported with the loop;
  * a call of a module's fork handler (hs_<module>_prefork, _postfork_parent, _postfork_child)
    anywhere but runtime/fork.c, where their order is written down once. intern's handlers are
    per table: the modules that own the tables call them from their own handlers.
The build enforces the folder rules too (each folder's include directory is visible only to the
folders that may use it); this check also covers cycles inside a folder, which the compiler
cannot see, and gives the reason in words.
"""
import os
import re
import sys

# Who may include whom (src/README.md, "Dependencies"). A folder may always include its own.
FOLDER_DEPS = {
    "common": set(),
    "pprof": {"common"},
    "symbols": {"common"},
    "upload": {"common"},
    "runtime": {"common", "pprof", "symbols", "upload"},
    "analysis": {"common", "pprof", "symbols"},
    "cli": {"common", "pprof", "symbols", "upload", "analysis"},
}
# Headers that are not in a folder: the generated schema belongs to pprof, the public header to
# the runtime (which implements it).
EXTERNAL = {"profile.pb-c.h": "pprof", "heapsampler.h": "runtime"}

INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def scan(src):
    """{module path without suffix: {'folder', 'files', 'includes'}} and {header: [folders]}."""
    modules, headers = {}, {}
    for folder in sorted(os.listdir(src)):
        d = os.path.join(src, folder)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            if not name.endswith((".c", ".h")):
                continue
            base = name[:-2]
            key = folder + "/" + base
            m = modules.setdefault(key, {"folder": folder, "files": [], "includes": []})
            with open(os.path.join(d, name), encoding="utf-8") as f:
                text = f.read()
            m["files"].append(name)
            m["includes"] += [(name, inc) for inc in INCLUDE_RE.findall(text)]
            if name.endswith(".h"):
                headers.setdefault(name, []).append(folder)
    return modules, headers


FORK_CALL_RE = re.compile(r"\bhs_(\w+?)_(prefork|postfork_parent|postfork_child)\s*\(")
FORK_PLACE = "runtime/fork.c"
FORK_PER_TABLE = {"intern"}


def fork_calls(src):
    """Calls of module fork handlers outside runtime/fork.c, as problems."""
    out = []
    for folder in sorted(os.listdir(src)):
        d = os.path.join(src, folder)
        if not os.path.isdir(d):
            continue
        for fname in sorted(os.listdir(d)):
            if not fname.endswith(".c") or "%s/%s" % (folder, fname) == FORK_PLACE:
                continue
            with open(os.path.join(d, fname)) as f:
                text = f.read()
            text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
            text = re.sub(r"//[^\n]*", "", text)
            for n, line in enumerate(text.split("\n"), 1):
                if not line[:1].isspace():
                    continue  # a definition or a declaration starts its line
                for m in FORK_CALL_RE.finditer(line):
                    if m.group(1) not in FORK_PER_TABLE:
                        out.append("src/%s/%s:%d: calls %s: fork handlers are called only from "
                                   "src/%s" % (folder, fname, n, m.group(0).rstrip("( "),
                                               FORK_PLACE))
    return out


def check(src):
    problems = fork_calls(src)
    modules, headers = scan(src)
    for folder in {m["folder"] for m in modules.values()}:
        if folder not in FOLDER_DEPS:
            problems.append("src/%s: a folder that src/README.md does not describe" % folder)
    for h, folders in sorted(headers.items()):
        if len(folders) > 1:
            problems.append("%s is in several folders: %s" % (h, ", ".join(folders)))
    graph = {k: set() for k in modules}
    for key, m in sorted(modules.items()):
        folder = m["folder"]
        for fname, inc in m["includes"]:
            where = "src/%s/%s" % (folder, fname)
            base = os.path.basename(inc)
            if inc != base:
                problems.append('%s: #include "%s": include by file name only' % (where, inc))
            if base in EXTERNAL:
                target_folder = EXTERNAL[base]
                target = None
            elif base in headers:
                target_folder = headers[base][0]
                target = target_folder + "/" + base[:-2]
            else:
                problems.append('%s: #include "%s": no such header in src/' % (where, inc))
                continue
            if target_folder != folder and target_folder not in FOLDER_DEPS.get(folder, set()):
                problems.append('%s: #include "%s": %s may not use %s (src/README.md)'
                                % (where, inc, folder, target_folder))
            if target and target != key:
                graph[key].add(target)
    for cycle in cycles(graph):
        problems.append("cycle: " + " -> ".join(cycle + [cycle[0]]))
    return problems


def cycles(graph):
    """One loop (as a list of modules) per strongly connected component with more than one
    module (Tarjan's algorithm, iterative)."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    advanced = True
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(loop_in(graph, set(comp)))
    return out


def loop_in(graph, comp):
    """A shortest loop through the smallest module of a strongly connected component."""
    start = min(comp)
    prev = {start: None}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v]):
            if w == start:
                path = [v]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return list(reversed(path))
            if w in comp and w not in prev:
                prev[w] = v
                queue.append(w)
    return sorted(comp)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", "src")
    problems = check(os.path.normpath(src))
    for p in problems:
        print("check_layout: " + p)
    if problems:
        print("check_layout: %d problem(s); the rules are in src/README.md" % len(problems))
        return 1
    print("check_layout: src/ follows src/README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
