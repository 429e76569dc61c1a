"""What ``mirrornet predict`` takes as inputs: images, folders, globs, lists of images, videos.

Each command-line input is expanded, in order, by :func:`expand_inputs`:

* a **folder** → its images (by suffix, :data:`IMAGE_SUFFIXES`), sorted by name, not recursive;
* a **glob** (quoted, so that the shell leaves it alone: ``'photos/*.jpg'``, ``'**/*.png'``) →
  the matching files, sorted;
* a **list file** (``.txt`` / ``.lst``) → one image (or video) per line; blank lines and lines
  starting with ``#`` are skipped, and relative paths are relative to the list's folder;
* a **video** (:data:`VIDEO_SUFFIXES`) → its frames, read with OpenCV (the ``speed`` extra),
  one result per person per frame, with the frame's ``frame`` index and ``time`` in seconds;
* anything else is an image file.
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["IMAGE_SUFFIXES", "VIDEO_SUFFIXES", "Input", "VideoWriter", "expand_inputs", "is_video", "predict_video",
           "read_video"]

#: Files taken from a folder or a glob as images (compared ignoring case).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm")
#: Files read as videos through OpenCV.
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
#: Files read as lists of inputs.
LIST_SUFFIXES = (".txt", ".lst")
_GLOB_CHARS = "*?["


def _error(message: str) -> Exception:
    from mirrornet.predict import PredictError

    return PredictError(message)


@dataclass(frozen=True)
class Input:
    """One input after expansion: an image file or a video file, and the list that named it."""

    path: str
    video: bool = False
    listed_in: str | None = None


def is_video(path: str | Path) -> bool:
    """Whether a path names a video (by its suffix)."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def _media(paths: list[str]) -> list[str]:
    return sorted(p for p in paths if Path(p).suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES and Path(p).is_file())


def _from_list(path: Path) -> list[tuple[str, str]]:
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise _error(f"cannot read the list of images {path}: {exc}") from None
    entries = [(n, line.strip()) for n, line in enumerate(lines, 1) if line.strip() and not line.strip().startswith("#")]
    if not entries:
        raise _error(f"the list of images {path} names no image")
    return [(e if Path(e).is_absolute() else str(path.parent / e), f"{path}, line {n}") for n, e in entries]


def expand_inputs(arguments: list[str]) -> list[Input]:
    """The images and videos that ``arguments`` name, in order (see the module's documentation).

    A missing file is kept as it is, for the prediction to report as a bad image.

    Raises:
        PredictError: a folder without images, a glob that matches none, an unreadable or empty list.
    """
    found: list[tuple[str, str | None]] = []
    for arg in arguments:
        path = Path(arg)
        if path.is_dir():
            media = _media([str(p) for p in path.iterdir()])
            if not media:
                raise _error(f"folder {arg} holds no image or video (looked for {', '.join(IMAGE_SUFFIXES)}, ...)")
            found.extend((m, None) for m in media)
        elif not path.exists() and any(c in arg for c in _GLOB_CHARS):
            media = _media(glob.glob(arg, recursive=True))
            if not media:
                raise _error(f"no image or video matches {arg!r}")
            found.extend((m, None) for m in media)
        elif path.suffix.lower() in LIST_SUFFIXES and path.is_file():
            found.extend(_from_list(path))
        else:
            found.append((arg, None))
    return [Input(p, video=is_video(p), listed_in=origin) for p, origin in found]


@dataclass
class VideoInfo:
    """A video's frame count (0 where the container does not say) and frame rate."""

    frames: int
    fps: float
    width: int
    height: int


def read_video(path: str | Path) -> tuple[VideoInfo, Iterator[tuple[int, float, np.ndarray]]]:
    """Open a video: its :class:`VideoInfo` and an iterator of (index, time in s, RGB frame (H, W, 3)).

    Raises:
        PredictError: OpenCV is not installed, or cannot open the file.
    """
    import os

    # FFmpeg's own log lines ("moov atom not found") would come before the one-line error.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    try:
        import cv2
    except ImportError:
        raise _error(f"video {path}: reading videos needs OpenCV (pip install 'mirrornet[speed]')") from None
    if not Path(path).is_file():
        raise _error(f"video not found: {path}")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise _error(f"cannot open video {path} (OpenCV reads none of its frames)")
    fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
    info = VideoInfo(int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0), fps,
                     int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))

    def frames() -> Iterator[tuple[int, float, np.ndarray]]:
        index = 0
        try:
            while True:
                ok, bgr = capture.read()
                if not ok:
                    break
                # The time from the frame rate: containers' own timestamps are not always filled in.
                seconds = index / fps if fps > 0 else float(capture.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0
                yield index, seconds, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                index += 1
        finally:
            capture.release()

    return info, frames()


class VideoWriter:
    """A drawn video written frame by frame (MPEG-4, at the input's frame rate), atomically.

    Args:
        path: the ``.mp4`` file to write.
        fps: frames per second.
        size: (width, height).
    """

    def __init__(self, path: str | Path, fps: float, size: tuple[int, int]) -> None:
        import cv2

        from mirrornet.fileio import temporary_path

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = temporary_path(self.path, suffix=".mp4")
        self._writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps if fps > 0 else 25.0, size)
        if not self._writer.isOpened():
            raise _error(f"cannot write video {self.path} (OpenCV has no MPEG-4 writer here)")

    def write(self, rgb: np.ndarray) -> None:
        """Append one RGB frame (H, W, 3) uint8."""
        import cv2

        self._writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))

    def close(self, keep: bool = True) -> None:
        """Finish the file: renamed into place with ``keep``, removed otherwise."""
        import os

        self._writer.release()
        if keep:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)


def predict_video(
    predictor: Any,
    path: str,
    boxes: Any = None,
    progress: bool = False,
    on_frame: Callable[[np.ndarray, list[dict[str, Any]], float], None] | None = None,
) -> list[dict[str, Any]]:
    """The keypoint results of every frame of a video, each entry with ``frame`` and ``time``.

    Args:
        predictor: a :class:`~mirrornet.predict.Predictor`.
        path: the video as given.
        boxes: a :class:`~mirrornet.boxes.BoxesFile`: the video's entry (by its file name) holds
            for every frame. None: each whole frame is one person's box.
        progress: a bar over the frames.
        on_frame: called with each RGB frame, its people and the video's frame rate (drawing).

    Raises:
        PredictError: the video cannot be read, or its boxes do not fit its frames.
    """
    from mirrornet.boxes import check_boxes
    from mirrornet.console import progress_bar
    from mirrornet.predict import person_entries, whole_image

    info, frames = read_video(path)
    own = None if boxes is None else boxes.lookup(path)
    results: list[dict[str, Any]] = []
    seen = 0
    for index, seconds, rgb in progress_bar(frames, progress, desc=Path(path).name, total=info.frames or None,
                                            unit="frame"):
        size = (rgb.shape[1], rgb.shape[0])
        frame_boxes = whole_image(size) if own is None else own
        if index == 0:
            check_boxes(path, size, frame_boxes.boxes)
        coords, scores = predictor.people(rgb, frame_boxes.boxes, path)
        people = person_entries(path, frame_boxes, coords, scores, size, {"frame": index, "time": round(seconds, 6)})
        if on_frame is not None:
            on_frame(rgb, people, info.fps)
        results.extend(people)
        seen += 1
    if seen == 0:
        raise _error(f"video {path} has no frame that OpenCV can read")
    return results
