"""Every ```python block of the README and docs/python.md runs as pasted (in a fresh directory,
against the installed package) and exits 0: the snippets a new user copies first are programs."""

import importlib.util
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DOCS = ["README.md", os.path.join("docs", "python.md")]


def blocks():
    out = []
    for doc in DOCS:
        path = os.path.join(ROOT, doc)
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for i, m in enumerate(re.finditer(r"^```python\n(.*?)^```$", text, re.S | re.M)):
            line = text.count("\n", 0, m.start()) + 1
            out.append(pytest.param(m.group(1), id="%s:%d" % (doc, line)))
    return out


@pytest.mark.parametrize("code", blocks())
def test_snippet_runs_as_pasted(code, tmp_path):
    for module in re.findall(r"^import (\w+)", code, re.M):
        if importlib.util.find_spec(module) is None:
            pytest.skip("the snippet imports %s, which is not installed" % module)
    import tensorhash
    if "sglang_" in code and not tensorhash.build_info()["sglang_replies"]:
        pytest.skip("the snippet reads SGLang replies: built without nlohmann-json")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_docs_have_snippets():
    assert len(blocks()) >= 3
