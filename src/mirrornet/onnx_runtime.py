"""The recognizer α on ONNX Runtime: faster CPU inference for ``predict`` and ``evaluate``.

On a CPU, PyTorch runs α op by op, each op paying its dispatch cost; ONNX Runtime runs the
exported graph with batch norm folded into the convolutions and fused activations. At batch 1
it is several times faster for every recognizer (``benchmarks.throughput``), with the same
heatmaps to 1e-4.

:func:`select_backend` picks where α runs:

* ``torch`` — the model itself (PyTorch), on any device;
* ``onnx`` — :class:`OnnxRecognizer`: α exported to ONNX (:func:`mirrornet.export.export_onnx`)
  and run by an ONNX Runtime CPU session; needs the ``onnxruntime`` package;
* ``auto`` — ONNX Runtime when the device is the CPU, ``onnxruntime`` is installed, the job is
  large enough to repay the one-off export (or α's export is cached), the two backends agree to
  1e-4 on a probe batch, and a one-off timing on that batch shows ONNX Runtime faster; PyTorch
  otherwise. The :class:`BackendChoice` says which and why.

Exports are cached by α's architecture and weights (``$MIRRORNET_CACHE_DIR``, else
``$XDG_CACHE_HOME/mirrornet``, else ``~/.cache/mirrornet``; subfolder ``onnx``; the
:data:`CACHE_SIZE` most recently used are kept), so only the first run of a checkpoint pays for
the export. A cached export is checked before use (its content hash, recorded beside it, and a
probe crop against α) and exported again when it fails; a read-only cache folder without a good
export gets a temporary one.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import importlib.util
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from mirrornet import choices
from mirrornet.fileio import remove_dead_temporaries, write_text_atomic

__all__ = [
    "BACKENDS",
    "BackendChoice",
    "BackendError",
    "MIN_CROPS_FOR_EXPORT",
    "OnnxRecognizer",
    "TorchRecognizer",
    "cache_dir",
    "onnxruntime_available",
    "runner_for",
    "select_backend",
]

#: The values of ``--backend``.
BACKENDS: tuple[str, ...] = choices.BACKENDS

#: ``auto`` exports α only for jobs of at least this many crops (or when the export is cached):
#: below it, exporting (seconds to a minute for the paper's networks) costs more than it saves.
MIN_CROPS_FOR_EXPORT = 16

#: The largest heatmap difference, relative to the largest heatmap value (at least 1), at which
#: the two backends count as agreeing.
AGREEMENT_TOLERANCE = 1e-4

#: Exports kept in the cache (the most recently used; HRNet-W32's is about 115 MB).
CACHE_SIZE = 8

#: Bump when the exported graph changes, so that older cached files are not reused.
_CACHE_VERSION = "1"


class BackendError(ValueError):
    """A backend that cannot run as asked (``onnx`` without the ``onnxruntime`` package)."""


def onnxruntime_available() -> bool:
    """Whether the ``onnxruntime`` package can be imported."""
    return importlib.util.find_spec("onnxruntime") is not None


def cache_dir() -> Path:
    """The folder of cached α exports: ``$MIRRORNET_CACHE_DIR``, ``$XDG_CACHE_HOME/mirrornet`` or
    ``~/.cache/mirrornet``, then ``onnx``."""
    root = os.environ.get("MIRRORNET_CACHE_DIR")
    if root:
        return Path(root) / "onnx"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "mirrornet" / "onnx"


def _alpha_key(alpha: nn.Module, input_size: tuple[int, int], opset: int) -> str:
    """A digest of α's architecture and weights, the input size, the opset and torch's version."""
    digest = hashlib.sha256()
    header = f"{_CACHE_VERSION}|{torch.__version__}|{opset}|{tuple(input_size)}|{type(alpha).__qualname__}|{alpha!r}"
    digest.update(header.encode())
    for name, tensor in alpha.state_dict().items():
        t = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"|{name}|{t.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:32]


def _cache_path(alpha: nn.Module, input_size: tuple[int, int], opset: int, cache: bool | str | Path) -> Path | None:
    """Where α's export is cached (None: no cache)."""
    if not cache:
        return None
    folder = Path(cache) if isinstance(cache, (str, Path)) else cache_dir()
    return folder / f"alpha-{_alpha_key(alpha, (int(input_size[0]), int(input_size[1])), opset)}.onnx"


def _prune(folder: Path, keep: int) -> None:
    """Remove all but the ``keep`` most recently used exports of ``folder``."""
    try:
        files = sorted(folder.glob("alpha-*.onnx"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in files[keep:]:
            old.unlink(missing_ok=True)
            _digest_path(old).unlink(missing_ok=True)
    except OSError:  # another process pruning at the same time, or a read-only cache
        pass


def _digest_path(path: Path) -> Path:
    """The file beside a cached export that records its content hash."""
    return path.with_name(path.name + ".sha256")


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@torch.no_grad()
def _agrees(alpha: nn.Module, session: Any, input_size: tuple[int, int]) -> bool:
    """Whether ``session`` gives α's last-stack heatmaps on a random probe crop."""
    from mirrornet.export import LastStack

    weight = next(alpha.parameters())
    probe = torch.randn(1, 3, *input_size, generator=torch.Generator().manual_seed(0))
    training = alpha.training
    alpha.eval()  # batch norm's running statistics stay as they are
    try:
        expected = LastStack(alpha)(probe.to(weight.device, weight.dtype)).float().cpu()
    finally:
        alpha.train(training)
    (got,) = session.run(None, {session.get_inputs()[0].name: probe.numpy()})
    if tuple(got.shape) != tuple(expected.shape):
        return False
    scale = max(1.0, float(expected.abs().max()))
    return float(np.abs(got - expected.numpy()).max()) <= AGREEMENT_TOLERANCE * scale


def _is_cached(
    alpha: nn.Module, input_size: tuple[int, int], cache: bool | str | Path, opset: int = choices.DEFAULT_ONNX_OPSET
) -> bool:
    path = _cache_path(alpha, input_size, opset, cache)
    return path is not None and path.is_file()


class TorchRecognizer:
    """α's last stack in PyTorch, with the ``recognize`` interface of :class:`OnnxRecognizer`.

    Args:
        model: a MirrorNet (anything with ``recognize``).
    """

    backend = "torch"

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def recognize(self, x: Tensor) -> list[Tensor]:
        """(B, 3, H, W) normalised crops → [(B, K, H/4, W/4)] heatmaps of the last stack."""
        return [self.model.recognize(x)[-1]]


class OnnxRecognizer:
    """α's last stack as an ONNX Runtime CPU session, with MirrorNet's ``recognize`` interface.

    α is exported once (a copy, so the caller's module stays where it is) with a dynamic batch
    axis; the file comes from the cache when α's weights were exported before.

    Args:
        alpha: the recognizer (``model.alpha``).
        input_size: (H, W) of its input crops.
        threads: ONNX Runtime intra-op threads (None: ``torch.get_num_threads()``, so that both
            backends use the same cores).
        cache: keep the export in :func:`cache_dir` (or ``cache``, a folder) and reuse it; False:
            a temporary file, removed once the session is built.
        opset: the ONNX opset of the export.

    Attributes:
        export_seconds: time spent exporting (0 when the cached file was used).
        cached: whether the export came from the cache.
        threads: the intra-op threads of the session.

    Raises:
        BackendError: ``onnxruntime`` is not installed.
        RuntimeError: α could not be exported.
    """

    backend = "onnx"

    def __init__(
        self,
        alpha: nn.Module,
        input_size: tuple[int, int],
        threads: int | None = None,
        cache: bool | str | Path = True,
        opset: int = choices.DEFAULT_ONNX_OPSET,
    ) -> None:
        if not onnxruntime_available():
            raise BackendError("the onnx backend needs the onnxruntime package: pip install onnxruntime")
        import onnxruntime as ort

        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.threads = int(threads) if threads else max(1, torch.get_num_threads())
        self.export_seconds = 0.0
        self.cached = False
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only: no start-up chatter on stderr
        path = _cache_path(alpha, self.input_size, opset, cache)
        self.session = None if path is None else self._cached_session(alpha, path, opset, options)
        if self.session is None:  # no cache, or a read-only one without a good export
            with tempfile.TemporaryDirectory(prefix="mirrornet-onnx-") as tmp:
                path = self._export(alpha, Path(tmp) / "alpha.onnx", opset)
                self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def _cached_session(self, alpha: nn.Module, path: Path, opset: int, options: Any) -> Any:
        """A session of α's cached export, verified before use and rebuilt when bad; None when
        the cache folder cannot be written and holds no good export.

        A cached file is used only when its content hash matches the one recorded beside it at
        export (a truncated or emptied file does not) and its heatmaps agree with α's on a
        probe crop (another model's export under this name does not); otherwise it is exported
        again. Temporaries of killed exports are removed first.
        """
        import onnxruntime as ort

        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError:
            return None
        writable = os.access(path.parent, os.W_OK | os.X_OK)
        if writable:
            remove_dead_temporaries(path.parent, r"alpha-[0-9a-f]+", ".onnx")
        if _digest_path(path).is_file() and path.is_file() and _digest_path(path).read_text().strip() == _file_digest(path):
            try:
                session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
                if _agrees(alpha, session, self.input_size):
                    self.cached = True
                    with contextlib.suppress(OSError):
                        os.utime(path)  # the most recently used exports are the ones kept
                    return session
            except Exception:  # noqa: BLE001 - a file ONNX Runtime cannot load is exported again
                pass
        if not writable:
            return None
        self._export(alpha, path, opset)
        write_text_atomic(_digest_path(path), _file_digest(path) + "\n")
        _prune(path.parent, keep=CACHE_SIZE)
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def _export(self, alpha: nn.Module, path: Path, opset: int) -> Path:
        from mirrornet.export import export_onnx

        start = time.perf_counter()
        # A copy: export_onnx moves the module it exports to the CPU in float32.
        module = copy.deepcopy(alpha)
        try:
            # The TorchScript exporter is the quicker of the two (22 s against 36 s for
            # HRNet-W32 on a 2-core CPU); the dynamo exporter is the fallback.
            export_onnx(module, path, self.input_size, opset=opset, dynamo=False)
        except Exception:  # noqa: BLE001 - the dynamo exporter may cope; it reports both
            export_onnx(module, path, self.input_size, opset=opset, dynamo=None)
        self.export_seconds = time.perf_counter() - start
        return path

    def __call__(self, x: Tensor) -> Tensor:
        """(B, 3, H, W) normalised crops → (B, K, H/4, W/4) float32 heatmaps on ``x``'s device."""
        array = np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy())
        (heatmaps,) = self.session.run(None, {self.input_name: array})
        return torch.from_numpy(heatmaps).to(x.device)

    def recognize(self, x: Tensor) -> list[Tensor]:
        """MirrorNet's interface: a one-element list, the heatmaps of α's last stack."""
        return [self(x)]


@dataclass
class BackendChoice:
    """Where α runs, and why.

    Attributes:
        backend: ``torch`` or ``onnx``.
        runner: an object with ``recognize(x) -> [heatmaps]`` (the model, or an
            :class:`OnnxRecognizer`), for :func:`mirrornet.inference.predict_batch`.
        reason: one sentence saying why this backend was chosen.
        seconds: per backend, the best time of the probe batch (``auto`` only).
        max_difference: the largest heatmap difference between the backends on the probe batch.
    """

    backend: str
    runner: Any
    reason: str
    seconds: dict[str, float] = field(default_factory=dict)
    max_difference: float | None = None


def _best_time(fn: Callable[[], Any], repeats: int) -> float:
    fn()  # warm-up: allocations, the session's first run
    best = float("inf")
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


@torch.no_grad()
def select_backend(
    model: nn.Module,
    backend: str = "auto",
    device: str | torch.device = "cpu",
    input_size: tuple[int, int] = (256, 256),
    probe_batch: int = 1,
    expected_crops: int | None = None,
    threads: int | None = None,
    cache: bool | str | Path = True,
    repeats: int = 3,
) -> BackendChoice:
    """Choose where α runs for ``predict`` / ``evaluate`` (see the module docstring).

    Args:
        model: a MirrorNet in eval mode, already on ``device``.
        backend: ``auto``, ``torch`` or ``onnx``.
        device: where the crops are (``auto`` picks PyTorch off the CPU).
        input_size: (H, W) of the crops.
        probe_batch: crops in the timing batch of ``auto`` (the job's batch size, capped at 4).
        expected_crops: the crops the job will run (None: unknown); ``auto`` exports α only for
            at least :data:`MIN_CROPS_FOR_EXPORT` crops unless the export is cached.
        threads: ONNX Runtime intra-op threads (None: PyTorch's).
        cache: see :class:`OnnxRecognizer`.
        repeats: timed runs of the probe batch per backend (the best counts).

    Returns:
        The :class:`BackendChoice`.

    Raises:
        BackendError: an unknown backend, or ``onnx`` without ``onnxruntime``.
    """
    if backend not in BACKENDS:
        raise BackendError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    torch_runner = TorchRecognizer(model)
    if backend == "torch":
        return BackendChoice("torch", torch_runner, "PyTorch, as asked")
    if backend == "onnx":
        runner = OnnxRecognizer(model.alpha, input_size, threads=threads, cache=cache)
        return BackendChoice("onnx", runner, f"ONNX Runtime ({runner.threads} threads), as asked")
    if torch.device(device).type != "cpu":
        return BackendChoice("torch", torch_runner, f"PyTorch: the crops are on {device}, ONNX Runtime runs on the CPU")
    if not onnxruntime_available():
        return BackendChoice("torch", torch_runner, "PyTorch: onnxruntime is not installed")
    if expected_crops is not None and expected_crops < MIN_CROPS_FOR_EXPORT and not _is_cached(model.alpha, input_size, cache):
        return BackendChoice(
            "torch", torch_runner,
            f"PyTorch: {expected_crops} crops are too few to repay exporting α to ONNX "
            f"(auto exports from {MIN_CROPS_FOR_EXPORT}; --backend onnx forces it)",
        )
    try:
        onnx_runner = OnnxRecognizer(model.alpha, input_size, threads=threads, cache=cache)
    except Exception as exc:  # noqa: BLE001 - any export failure leaves PyTorch, which always works
        return BackendChoice("torch", torch_runner, f"PyTorch: α could not be exported to ONNX ({type(exc).__name__})")
    h, w = (int(s) for s in input_size)
    probe = torch.randn(max(1, min(int(probe_batch), 4)), 3, h, w, generator=torch.Generator().manual_seed(0))
    probe = probe.to(device)
    expected = torch_runner.recognize(probe)[0].float()
    got = onnx_runner(probe).float()
    scale = max(1.0, float(expected.abs().max()))
    difference = float((got - expected).abs().max()) if got.shape == expected.shape else float("inf")
    if not difference <= AGREEMENT_TOLERANCE * scale:
        return BackendChoice(
            "torch", torch_runner,
            f"PyTorch: ONNX Runtime's heatmaps differ from PyTorch's by {difference:.2g} on a probe batch",
            max_difference=difference,
        )
    seconds = {
        "torch": _best_time(lambda: torch_runner.recognize(probe), repeats),
        "onnx": _best_time(lambda: onnx_runner(probe), repeats),
    }
    per_crop = {k: 1e3 * v / probe.shape[0] for k, v in seconds.items()}
    timing = f"{per_crop['onnx']:.3g} ms per crop against {per_crop['torch']:.3g} ms in PyTorch"
    if seconds["onnx"] < seconds["torch"]:
        return BackendChoice(
            "onnx", onnx_runner, f"ONNX Runtime ({onnx_runner.threads} threads): {timing}", seconds, difference
        )
    return BackendChoice("torch", torch_runner, f"PyTorch: ONNX Runtime was not faster ({timing})", seconds, difference)


def runner_for(
    model: nn.Module,
    backend: str | BackendChoice,
    device: str | torch.device,
    input_size: tuple[int, int],
    probe_batch: int = 1,
    expected_crops: int | None = None,
) -> Any:
    """The object whose ``recognize`` runs α: ``model`` itself for ``torch``, the runner of a
    :class:`BackendChoice`, or :func:`select_backend`'s choice for ``auto`` / ``onnx``."""
    if isinstance(backend, BackendChoice):
        return backend.runner
    if backend == "torch":
        return model
    return select_backend(
        model, backend, device, input_size, probe_batch=probe_batch, expected_crops=expected_crops
    ).runner
