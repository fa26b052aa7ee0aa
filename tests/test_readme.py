"""The README's examples run as written and print what the README says they print.

Every fenced `python` block whose first line starts with `# Run:` is a script: it is saved
to a file and run with this interpreter against a live server on examples/langgraph.json
(the README's `http://127.0.0.1:8123` replaced by that server's address). The comment lines
right under a `print(...)` line are its expected output, one printed line each (a comment
line indented by three more spaces continues the one above it); `…` stands for anything.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from conftest import EXAMPLES_CONFIG, ROOT, ServerProcess

README_URL = "http://127.0.0.1:8123"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.M | re.S)


def runnable_blocks() -> list[str]:
    """The README's python blocks whose first line is a `# Run:` comment."""
    blocks = _BLOCK.findall((ROOT / "README.md").read_text())
    return [b for b in blocks if b.startswith("# Run:")]


def expected_output(block: str) -> list[str]:
    """The lines the block's comments say it prints, in order."""
    expected: list[str] = []
    after_print = False
    for line in block.splitlines():
        text = line.strip()
        if after_print and text.startswith("#"):
            comment = text[1:]
            if comment.startswith("   ") and expected:
                expected[-1] += " " + comment.strip()
            else:
                expected.append(comment.strip())
            continue
        after_print = text.startswith("print(") or text.startswith("print (")
    return expected


def _matches(pattern: str, line: str) -> bool:
    regex = ".+?".join(re.escape(part) for part in pattern.split("…"))
    return re.fullmatch(regex, line) is not None


def test_readme_has_runnable_examples_with_their_output():
    blocks = runnable_blocks()
    assert blocks, "no `# Run:` python block in README.md"
    for block in blocks:
        assert README_URL in block and expected_output(block), block.splitlines()[0]


@pytest.fixture(scope="module")
def examples_server(tmp_path_factory, output_dir):
    proc = ServerProcess(tmp_path_factory.mktemp("readme-server"), config=EXAMPLES_CONFIG).start()
    yield proc
    proc.stop()
    (output_dir / "server-readme.log").write_text(proc.log())


@pytest.mark.parametrize("block", runnable_blocks(), ids=lambda b: b.splitlines()[0][len("# Run:"):].strip())
def test_readme_example_runs_and_prints_what_it_says(block, examples_server, tmp_path):
    script = tmp_path / "example.py"
    script.write_text(block.replace(README_URL, examples_server.url))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    printed = [line for line in done.stdout.splitlines() if line.strip()]
    expected = expected_output(block)
    assert len(printed) == len(expected), f"printed:\n{done.stdout}\nexpected:\n" + "\n".join(expected)
    for pattern, line in zip(expected, printed):
        assert _matches(pattern, line), f"printed {line!r}, the README says {pattern!r}"
