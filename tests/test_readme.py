"""The Python examples of the README run as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_python_examples():
    assert len(python_blocks()) >= 2


def test_readme_python_examples_run(capsys, checkpoint, tmp_path, monkeypatch):
    # The files the examples name: a checkpoint where a run of lsp_small writes it, and a photo.
    import shutil

    import numpy as np
    from PIL import Image

    monkeypatch.chdir(tmp_path)
    run = tmp_path / "runs" / "lsp_small" / "checkpoints"
    run.mkdir(parents=True)
    shutil.copy(checkpoint, run / "baseline.ckpt")
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (360, 240, 3), dtype=np.uint8)).save("photo.jpg")
    namespace: dict = {}
    for block in python_blocks():
        exec(compile(block, str(README), "exec"), namespace)
    # The bounds example prints the named terms of both bounds.
    printed = capsys.readouterr().out
    assert "'fidelity'" in printed and "'entropy'" in printed and "'log_q_alpha'" in printed
    assert namespace["sample"]["image"].shape == (128, 128, 3)
    assert "(1, 16, 2) (1, 16)" in printed and "[1, 0]" in printed and "'r_ankle': [" in printed
