"""docs/configuration.md lists every stack-file key with its default: the
effective configuration printed by -t is checked against it."""
import os
import re
import subprocess

from conftest import ROOT, binary

MINIMAL = """
[site]
www = a
[host a]
address = 127.0.0.9
roles = lb, web, app, dns
[lb]
server = a:8080
"""

SHARED = "Settings every HTTP daemon shares"


def doc_tables():
    """{section heading: {key: default cell}}"""
    text = open(os.path.join(ROOT, "docs", "configuration.md")).read()
    tables, current = {}, None
    for line in text.splitlines():
        if line.startswith("## "):
            current = line[3:].strip()
            if current.startswith(SHARED):
                current = SHARED
            tables[current] = {}
        m = re.match(r"\| `([a-z_]+)` \| ([^|]*) \|", line)
        if m and current:
            tables[current][m.group(1)] = m.group(2)
    return tables


def test_every_key_and_default_is_documented(tmp_path):
    conf = tmp_path / "min.conf"
    conf.write_text(MINIMAL)
    out = subprocess.run([binary("tristack-lb"), "-t", "-c", str(conf)], capture_output=True,
                         text=True, cwd=ROOT, check=True).stdout
    tables = doc_tables()
    section, checked = None, 0
    for line in out.splitlines():
        m = re.match(r"\[(\w+)(?: \S+)?\]", line)
        if m:
            section = "[host NAME]" if line.startswith("[host ") else f"[{m.group(1)}]"
            continue
        m = re.match(r"([a-z_]+) = ?(.*)", line)
        if not m or section is None:
            continue
        key, value = m.group(1), m.group(2)
        cell = tables.get(section, {}).get(key)
        if cell is None and section in ("[lb]", "[web]", "[app]"):
            cell = tables[SHARED].get(key)
        assert cell is not None, f"{section} {key} is not in docs/configuration.md"
        if key in ("server", "address", "roles", "www"):
            continue  # set by the minimal file, not defaults
        if value:
            assert f"`{value}`" in cell, f"{section} {key}: default {value!r} not in {cell!r}"
        checked += 1
    assert checked > 40
