"""The code's shape, as docs/architecture.md states it: core includes
nothing of a daemon's or of src/conf, daemons never include each other,
files stay under 1,000 lines and functions under 120, and every path the
architecture page names exists. These hold for the tree as committed; a
change that breaks one fails here rather than in a review."""
import os
import re

from conftest import ROOT

SRC = os.path.join(ROOT, "src")
DAEMONS = ("lb", "web", "app", "dns", "ctl")
INCLUDE = re.compile(r'^#include "([^"]+)"', re.M)


def sources(folder=""):
    for top, _, files in os.walk(os.path.join(SRC, folder)):
        for f in sorted(files):
            if f.endswith((".c", ".h")):
                yield os.path.join(top, f)


def rel(path):
    return os.path.relpath(path, SRC)


def includes(path):
    return INCLUDE.findall(open(path).read())


def test_core_includes_only_core():
    core = set(os.listdir(os.path.join(SRC, "core")))
    bad = [(rel(p), inc) for p in sources("core") for inc in includes(p)
           if (inc[5:] if inc.startswith("core/") else inc) not in core]
    assert bad == [], bad


def test_daemons_never_include_each_other():
    bad = []
    for d in DAEMONS:
        for p in sources(d):
            for inc in includes(p):
                other = inc.split("/")[0] if "/" in inc else None
                if other in DAEMONS and other != d:
                    bad.append((rel(p), inc))
    assert bad == [], bad


def test_files_under_1000_lines():
    big = [(rel(p), n) for p in sources() if p.endswith(".c")
           for n in [sum(1 for _ in open(p))] if n >= 1000]
    assert big == [], big


def function_lengths(path):
    """(name line, body lines) of each function: the project's style puts a
    function's braces alone in column 0."""
    lines = open(path).read().split("\n")
    start = None
    for i, line in enumerate(lines):
        if line == "{":
            start = i
        elif line.startswith("}") and start is not None:
            yield lines[start - 1].strip(), i - start - 1
            start = None


def test_functions_under_120_lines():
    long_ = [(rel(p), name, n) for p in sources() if p.endswith(".c")
             for name, n in function_lengths(p) if n > 120]
    assert long_ == [], long_


def test_the_architecture_page_names_real_files():
    text = open(os.path.join(ROOT, "docs", "architecture.md")).read()
    named = set(re.findall(r"`(src/[a-z_/]+(?:\.(?:[ch]|\{[a-z,]+\})|/)?)`", text))
    assert named, "the page names no file"
    missing = []
    for n in named:
        m = re.match(r"(.*\.)\{([a-z,]+)\}$", n)
        paths = [m.group(1) + ext for ext in m.group(2).split(",")] if m else [n]
        missing += [p for p in paths if not os.path.exists(os.path.join(ROOT, p))]
    assert missing == [], missing
