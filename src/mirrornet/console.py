"""Progress for loops outside training: a tqdm bar on a terminal, nothing in a log.

A tqdm bar written to a file or a pipe leaves every refresh behind as text (a line of
kilobytes per loop); where stderr is not a terminal the loop runs silently and the caller's
own one-line summary is the log.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TypeVar

__all__ = ["progress_bar", "stderr_is_terminal"]

T = TypeVar("T")


def stderr_is_terminal() -> bool:
    """Whether standard error is an interactive terminal."""
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def progress_bar(iterable: Iterable[T], enabled: bool = True, **tqdm_args) -> Iterable[T]:
    """``iterable`` wrapped in a tqdm bar on stderr when ``enabled`` and stderr is a terminal.

    Args:
        iterable: what to loop over.
        enabled: the caller's progress switch (``--no-progress`` turns it off).
        **tqdm_args: passed to ``tqdm`` (``desc``, ``total``, ``unit``, ``leave``, ...).

    Returns:
        The bar, or ``iterable`` itself.
    """
    if not (enabled and stderr_is_terminal()):
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, file=sys.stderr, **tqdm_args)
