"""The recognizers α by name: a decorator registry with each one's input size and stride.

A recognizer is a function ``(num_joints) -> nn.Module`` mapping (B, 3, H, W) images to K heatmaps
at (H / stride, W / stride), or a list of them (one per stack). Registering it under a name, with
the input it is meant for, makes it a value of ``model.recognizer`` (checked when a config is
loaded), buildable by :func:`mirrornet.nets.build_recognizer` and part of the parametrised tests::

    from mirrornet.nets.registry import register_recognizer

    @register_recognizer("my_net", input_size=(256, 256), divisor=32)
    def my_net(num_joints: int = 16) -> nn.Module:
        return MyNet(num_joints)

The module that holds it must be imported before the config is loaded (the built-in recognizers
register themselves when :mod:`mirrornet.nets` is imported, which a config check does). As timm's models carry a default
config, each entry carries its default input size, its heatmap stride and the number its sides
must be multiples of.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["RecognizerEntry", "RECOGNIZERS", "register_recognizer"]


@dataclass(frozen=True)
class RecognizerEntry:
    """A registered recognizer.

    Attributes:
        name: its ``model.recognizer`` value.
        builder: ``(num_joints) -> nn.Module``.
        input_size: the (H, W) it is meant for (256×256 for the paper's; 64×64 for the CPU variants).
        stride: input pixels per heatmap pixel.
        divisor: the input's sides must be multiples of it (its coarsest feature map's stride).
        paper: one of the paper's three recognizers (Table 8).
    """

    name: str
    builder: Callable[..., Any]
    input_size: tuple[int, int]
    stride: int
    divisor: int
    paper: bool = False


#: Every registered recognizer by name (filled by :func:`register_recognizer`).
RECOGNIZERS: dict[str, RecognizerEntry] = {}


def register_recognizer(
    name: str, *, input_size: tuple[int, int], divisor: int, stride: int = 4, paper: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated ``(num_joints) -> nn.Module`` as the recognizer ``name``.

    Args:
        name: the ``model.recognizer`` value.
        input_size: the default (H, W) input.
        divisor: the sides' required multiple.
        stride: input pixels per heatmap pixel.
        paper: one of the paper's recognizers.

    Returns:
        The decorator; it returns the builder unchanged.

    Raises:
        ValueError: the name is taken (two recognizers would silently replace each other).
    """

    def register(builder: Callable[..., Any]) -> Callable[..., Any]:
        if name in RECOGNIZERS:
            raise ValueError(f"recognizer {name!r} is registered twice")
        RECOGNIZERS[name] = RecognizerEntry(name, builder, (int(input_size[0]), int(input_size[1])), int(stride),
                                            int(divisor), bool(paper))
        return builder

    return register

