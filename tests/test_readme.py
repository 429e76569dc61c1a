"""The Python examples of the README run as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_python_examples():
    assert len(python_blocks()) >= 2


def test_readme_python_examples_run(capsys):
    namespace: dict = {}
    for block in python_blocks():
        exec(compile(block, str(README), "exec"), namespace)
    # The bounds example prints the named terms of both bounds.
    printed = capsys.readouterr().out
    assert "'fidelity'" in printed and "'entropy'" in printed and "'log_q_alpha'" in printed
    assert namespace["sample"]["image"].shape == (128, 128, 3)
