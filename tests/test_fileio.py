"""Atomic writes: a failed write leaves the previous file whole and no temporary behind."""

import json

import pytest

from mirrornet.fileio import write_json_atomic, write_text_atomic


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
