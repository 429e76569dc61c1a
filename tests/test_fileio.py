"""Atomic writes: a failed write leaves the previous file whole and no temporary behind."""

import json
import os

import pytest

from mirrornet.fileio import atomic_path, temporary_path, write_json_atomic, write_text_atomic


def test_write_json_atomic_round_trip(tmp_path):
    path = write_json_atomic(tmp_path / "sub" / "r.json", {"a": [1, 2.5]})
    assert json.loads(path.read_text()) == {"a": [1, 2.5]}
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]


def test_failed_write_keeps_the_old_file(tmp_path):
    path = write_text_atomic(tmp_path / "r.json", "old")
    with pytest.raises(TypeError):
        write_json_atomic(path, {"not json": object()})  # fails while serialising
    assert path.read_text() == "old"

    with pytest.raises(TypeError):
        write_text_atomic(path, 12345)  # write_text refuses a non-str after the temp is opened
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temporary left behind


def test_atomic_path_replaces_the_target_on_success(tmp_path):
    target = tmp_path / "sub" / "table.csv"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.startswith(".") and tmp != target
        tmp.write_text("new")
        assert not target.exists()  # nothing is visible under the target's name before the end
    assert target.read_text() == "new"
    assert [p.name for p in target.parent.iterdir()] == ["table.csv"]


def test_atomic_path_leaves_the_target_untouched_and_no_temporary_on_error(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="interrupted"):
        with atomic_path(target) as tmp:
            tmp.write_text("half of the new")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_atomic_path_removes_the_temporary_on_keyboard_interrupt(tmp_path):
    target = tmp_path / "drawing.png"
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target, suffix=".png") as tmp:
            tmp.write_bytes(b"\x89PNG")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_temporary_names_end_with_the_suffix_asked(tmp_path):
    pid = os.getpid()
    assert temporary_path(tmp_path / "a.ckpt").name == f".a.ckpt.{pid}.tmp"
    assert temporary_path(tmp_path / "a.png", suffix=".png").name == f".a.{pid}.tmp.png"


def test_atomic_path_fails_when_the_body_writes_nothing(tmp_path):
    target = tmp_path / "r.json"
    target.write_text("old")
    with pytest.raises(FileNotFoundError):
        with atomic_path(target):
            pass
    assert target.read_text() == "old"
