#!/usr/bin/env python3
"""test_check_layout.py - check_layout.py catches what it is for: on a copy of src/ with one
deliberate fault at a time (a forbidden include, an include by path, an unknown header, a
cycle between two modules, a fork handler called outside runtime/fork.c), it fails naming the
fault; on the tree as it is, it passes."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
CHECK = os.path.join(HERE, "check_layout.py")
SRC = os.path.normpath(os.path.join(HERE, "..", "..", "src"))


def run(src):
    p = subprocess.run([sys.executable, CHECK, src], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout


class CheckLayout(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="hs-layout-")
        self.src = os.path.join(self.tmp, "src")
        shutil.copytree(SRC, self.src)

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def edit(self, rel, fn):
        path = os.path.join(self.src, rel)
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(fn(text))

    def after_first_include(self, rel, line):
        def add(text):
            i = text.index("#include")
            j = text.index("\n", i) + 1
            return text[:j] + line + "\n" + text[j:]
        self.edit(rel, add)

    def fails_with(self, *words):
        rc, out = run(self.src)
        self.assertEqual(rc, 1, out)
        for w in words:
            self.assertIn(w, out)

    def test_the_tree_passes(self):
        self.assertEqual(run(self.src), (0, "check_layout: src/ follows src/README.md\n"))

    def test_forbidden_include(self):
        self.after_first_include("common/log.c", '#include "trend.h"')
        self.fails_with('src/common/log.c: #include "trend.h": common may not use analysis')

    def test_include_by_path_and_unknown_header(self):
        self.after_first_include("cli/cmd_report.c", '#include "../analysis/trend.h"')
        self.after_first_include("cli/cmd_diff.c", '#include "no_such_header.h"')
        self.fails_with("include by file name only", '"no_such_header.h": no such header')

    def test_cycle_between_modules(self):
        # series.h and trend.h include each other: a loop between two modules of one folder,
        # which the compiler accepts and the folder rules cannot see.
        self.after_first_include("analysis/series.h", '#include "trend.h"')
        self.after_first_include("analysis/trend.h", '#include "series.h"')
        self.fails_with("cycle: ", "analysis/series", "analysis/trend")

    def test_fork_handler_called_outside_fork_c(self):
        def stray(text):
            i = text.index("{", text.index("hs_profiler_fini"))
            return text[:i + 1] + "\n    hs_labels_prefork();\n" + text[i + 1:]
        self.edit("runtime/profiler.c", stray)
        self.fails_with("src/runtime/profiler.c:", "calls hs_labels_prefork",
                        "only from src/runtime/fork.c")


if __name__ == "__main__":
    unittest.main(verbosity=2)
