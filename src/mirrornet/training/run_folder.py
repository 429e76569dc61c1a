"""The output folder of a training run: refused while another run holds it or a file blocks it,
and, on ``--resume``, only with the config the run was started with.

Checked by :func:`mirrornet.training.run.run_experiment` before any data is read or anything is
written.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mirrornet.checkpoints import checkpoint_config, read_checkpoint
from mirrornet.config import Config, ConfigError, config_from_dict, parse_yaml
from mirrornet.fileio import check_output_dir, write_json_atomic

__all__ = ["RunError", "ResumeConfigError", "check_out_dir"]


class RunError(RuntimeError):
    """A run cannot start or continue (an output folder in use, a missing earlier stage, ...)."""


class ResumeConfigError(RunError, ConfigError):
    """``--resume`` with a config other than the one the run (or one of its checkpoints) used.

    A :class:`RunError` that is also a :class:`~mirrornet.config.ConfigError`: the fault is in
    the input, so the command line reports it as bad input (status 2).
    """


def check_out_dir(config: Config, out_dir: Path, resume: bool) -> None:
    """Refuse ``out_dir`` unless a run of ``config`` can start (or, with ``resume``, continue) in it.

    Raises:
        FileExistsError: a file stands where the run's folders go.
        RunError: ``out_dir`` holds checkpoints and ``resume`` is not set.
        ResumeConfigError: with ``resume``, ``config`` differs from the saved ``config.yaml`` or
            from a checkpoint's config in a key that matters to what is already trained.
    """
    _check_out_paths(out_dir)
    saved = out_dir / "config.yaml"
    ckpts = list((out_dir / "checkpoints").glob("*.ckpt")) if (out_dir / "checkpoints").is_dir() else []
    if not resume and ckpts:
        raise RunError(
            f"{out_dir} already holds a run ({len(ckpts)} checkpoints); "
            "continue it with --resume or choose another --out"
        )
    if not resume:
        return
    _check_data_paths(config, out_dir)
    # The config the run was started with (config.yaml), and the one each checkpoint's weights
    # were trained with: config.yaml can be deleted or edited by hand, so the run continues only
    # where every saved config still holds.
    saved_configs: list[tuple[str, dict, set[str]]] = []
    if saved.is_file():
        try:
            previous = config_from_dict(parse_yaml(saved.read_text(encoding="utf-8"), str(saved))).to_dict()
        except (ConfigError, UnicodeDecodeError) as exc:
            raise ResumeConfigError(f"cannot resume {out_dir}: its saved {saved} is not a valid config: {exc}") from None
        saved_configs.append((f"the saved {saved}", previous, {c.stem for c in ckpts}))
    for ckpt in sorted(ckpts):
        previous = checkpoint_config(read_checkpoint(ckpt, mmap=True), ckpt).to_dict()
        saved_configs.append((f"the config checkpoint {ckpt} was trained with", previous, {ckpt.stem}))
    current = config.to_dict()
    for source, previous, trained in saved_configs:
        diffs = _resume_diffs(previous, current, trained)
        if diffs:
            raise ResumeConfigError(
                f"cannot resume {out_dir}: the config differs from {source} in "
                + ", ".join(f"{k} ({a!r} -> {b!r})" for k, a, b in diffs[:5])
                + "; resume with that config or choose another --out"
            )


#: The data keys that name folders; relative ones are relative to the working directory.
DATA_PATH_KEYS = ("root", "test_root", "lspet_root", "silhouette_root", "mask_root")

#: The file of a run folder that records the folders its data keys named, resolved.
DATA_PATHS_FILE = "data_paths.json"


def resolved_data_paths(config: Config) -> dict[str, str]:
    """``data.<key>`` → the absolute folder it names (``~`` expanded, relative to the working
    directory), for every data key of :data:`DATA_PATH_KEYS` that is set."""
    paths = {f"data.{k}": getattr(config.data, k) for k in DATA_PATH_KEYS}
    return {k: os.path.abspath(os.path.expanduser(v)) for k, v in paths.items() if v}


def save_data_paths(config: Config, out_dir: Path) -> None:
    """Record the resolved data folders of a run in ``out_dir`` (compared on ``--resume``)."""
    write_json_atomic(out_dir / DATA_PATHS_FILE, resolved_data_paths(config))


def _check_data_paths(config: Config, out_dir: Path) -> None:
    """Refuse a resume whose relative data keys now name other folders (another working directory)."""
    saved_file = out_dir / DATA_PATHS_FILE
    if not saved_file.is_file():
        return  # a run started before the folders were recorded
    try:
        saved = json.loads(saved_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return  # a damaged record: the config itself is still compared
    current = resolved_data_paths(config)
    # A key set on one side only is the config comparison's to judge (a silhouette folder may
    # be added on resume).
    for key in sorted(set(saved) & set(current)) if isinstance(saved, dict) else ():
        if saved[key] != current[key]:
            raise ResumeConfigError(
                f"cannot resume {out_dir}: {key} names {current.get(key)} here, but the run was trained on "
                f"{saved.get(key)}; resume from the run's working directory, or give {key} as an absolute path"
            )


def _check_out_paths(out_dir: Path) -> None:
    """Refuse an output folder that a plain file stands in the way of, before anything is written.

    ``mkdir`` would otherwise fail with a bare "[Errno 17] File exists" (or "Not a directory")
    after ``config.yaml`` and the logs had been started.
    """
    for folder in (out_dir / "checkpoints", out_dir / "logs", out_dir / "figures"):
        if folder.exists() and not folder.is_dir():
            raise FileExistsError(
                f"cannot write the run to {out_dir}: {folder} exists and is not a folder; "
                f"choose another --out, or move {folder} away"
            )
    # --out itself, or a folder above it, being a file or not writable would fail only at the
    # first write, after the data was read (and, under DDP, on rank 0 alone).
    check_output_dir(out_dir, "--out")


#: Keys that ``--resume`` accepts when they were unset before and no stage that reads them has
#: a checkpoint yet: the silhouettes that a refused run lacked (ψ's data) change nothing that
#: is already trained.
_ADDABLE_ON_RESUME: dict[str, tuple[str, ...]] = {
    "data.silhouette_root": ("pretrain_mask", "pretrain_vaes"),
    "data.mask_format": ("pretrain_mask", "pretrain_vaes"),
    "data.mask_root": ("pretrain_mask", "pretrain_vaes"),
}


#: Keys that change how fast a run goes, never what it computes: free to change on resume.
_FREE_ON_RESUME = frozenset({"train.threads"})


def _resume_diffs(previous: dict, current: dict, trained_stages: set[str]) -> list[tuple[str, Any, Any]]:
    """The config differences that forbid a resume, given the stages that have checkpoints."""
    return [
        (key, old, new) for key, old, new in _diff(previous, current)
        if key not in _FREE_ON_RESUME and not (key in _ADDABLE_ON_RESUME and old is None and not trained_stages & set(_ADDABLE_ON_RESUME[key]))
    ]


def _diff(a: Any, b: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out.extend(_diff(a.get(k), b.get(k), f"{prefix}{k}."))
        return out
    return [] if a == b else [(prefix[:-1], a, b)]
