"""README.md's Configuration table against the option table: every HEAPSAMPLER_* variable that
`heapsampler run --help` lists (it comes from src/common/config.c) has a row in the README, and
the README has no row for a variable that does not exist.
"""
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import hstest  # noqa: E402


class ReadmeTest(unittest.TestCase):

    def test_configuration_table_lists_every_variable(self):
        out = subprocess.run([hstest.CLI, "run", "--help"], capture_output=True, text=True,
                             timeout=hstest.TIMEOUT, env=hstest.clean_env())
        self.assertEqual(out.returncode, 0, out.stderr)
        variables = set(re.findall(r"\s(HEAPSAMPLER_[A-Z_]+), default", out.stdout))
        self.assertIn("HEAPSAMPLER_RATE", variables)
        with open(os.path.join(hstest.SOURCE, "README.md")) as f:
            readme = f.read()
        section = readme[readme.index("## Configuration"):]
        section = section[:section.index("\n## ", 1)]
        rows = set(re.findall(r"^\| `(HEAPSAMPLER_[A-Z_]+)` \|", section, re.M))
        self.assertEqual(sorted(variables - rows), [], "variables without a row in README.md")
        self.assertEqual(sorted(rows - variables), [], "rows of README.md that are no variable")


if __name__ == "__main__":
    unittest.main(verbosity=2)
