"""Drawing primitives: the 2× canvas with its part map, and body parts as lists of shapes.

Everything is drawn at twice the image size and box-filtered down at the end, which anti-aliases
every edge. Beside the RGB canvas a part map of the same size records which body part (or
occluder) is the front-most surface at each pixel; visibility and the silhouette are read from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

__all__ = [
    "PART_NAMES", "PART_LABEL", "SCENE_LABEL", "OCCLUDER_LABEL", "Canvas", "PartDrawing", "quad_band",
]

# Drawn body parts; label value in the part map is index + 1 (0 = scene, 255 = occluder).
PART_NAMES: tuple[str, ...] = (
    "torso", "neck", "head",
    "r_upper_arm", "r_forearm", "r_hand", "l_upper_arm", "l_forearm", "l_hand",
    "r_thigh", "r_shank", "r_foot", "l_thigh", "l_shank", "l_foot",
)
PART_LABEL: dict[str, int] = {name: i + 1 for i, name in enumerate(PART_NAMES)}
SCENE_LABEL = 0
OCCLUDER_LABEL = 255

# A shape: ("poly", flat [x0, y0, x1, y1, ...]) or ("ellipse", [x0, y0, x1, y1] bounding box).
Shape = tuple[str, list[float], np.ndarray]


@dataclass
class Canvas:
    """The 2× RGB canvas and its part map, with a drawing context for each.

    Attributes:
        image: RGB image of side 2·S.
        labels: 8-bit part map of the same size (`PART_LABEL`, `SCENE_LABEL`, `OCCLUDER_LABEL`).
        draw: drawing context of `image`.
        label_draw: drawing context of `labels`.
    """

    image: Image.Image
    labels: Image.Image
    draw: ImageDraw.ImageDraw
    label_draw: ImageDraw.ImageDraw

    @classmethod
    def over(cls, background: Image.Image) -> Canvas:
        """A canvas that draws on `background` (in place), with an all-scene part map."""
        labels = Image.new("L", background.size, SCENE_LABEL)
        return cls(background, labels, ImageDraw.Draw(background), ImageDraw.Draw(labels))

    def paint(self, kind: str, coords: list[float], colour: tuple[int, ...], label: int) -> None:
        """Fill one shape in `colour` on the image and with `label` on the part map.

        Args:
            kind: "poly" or "ellipse".
            coords: flat polygon points, or the ellipse's bounding box x0, y0, x1, y1.
            colour: 8-bit RGB fill.
            label: part-map value.
        """
        if kind == "poly":
            self.draw.polygon(coords, fill=colour)
            self.label_draw.polygon(coords, fill=label)
        else:
            self.draw.ellipse(coords, fill=colour)
            self.label_draw.ellipse(coords, fill=label)


class PartDrawing:
    """One body part for the painter's algorithm: its shapes, its label and its depth.

    Args:
        label: part-map label (`PART_LABEL`).
        depth: camera depth used to order the parts (larger = nearer, drawn later).
    """

    __slots__ = ("label", "depth", "shapes")

    def __init__(self, label: int, depth: float) -> None:
        self.label = label
        self.depth = depth
        self.shapes: list[Shape] = []

    def limb(self, p0: np.ndarray, p1: np.ndarray, r0: float, r1: float, colour: np.ndarray,
             caps: bool = True) -> None:
        """Add a tapered segment p0 → p1 with round caps.

        Args:
            p0, p1: (2,) ends of the segment in canvas coordinates.
            r0, r1: radii at p0 and p1 in canvas pixels.
            colour: (3,) RGB.
            caps: draw the round caps (always drawn for a segment of no length).
        """
        direction = p1 - p0
        length = math.hypot(direction[0], direction[1])
        if length > 1e-6:
            nx, ny = -direction[1] / length, direction[0] / length  # unit normal
            self.shapes.append(("poly", [p0[0] + nx * r0, p0[1] + ny * r0, p1[0] + nx * r1, p1[1] + ny * r1,
                                         p1[0] - nx * r1, p1[1] - ny * r1, p0[0] - nx * r0, p0[1] - ny * r0],
                                colour))
        if caps or length <= 1e-6:
            self.circle(p0, r0, colour)
            self.circle(p1, r1, colour)

    def circle(self, centre: np.ndarray, radius: float, colour: np.ndarray) -> None:
        """Add a disc.

        Args:
            centre: (2,) centre in canvas coordinates.
            radius: radius in canvas pixels.
            colour: (3,) RGB.
        """
        self.shapes.append(("ellipse", [centre[0] - radius, centre[1] - radius,
                                        centre[0] + radius, centre[1] + radius], colour))

    def polygon(self, points: np.ndarray, colour: np.ndarray) -> None:
        """Add a filled polygon.

        Args:
            points: (N, 2) corners in canvas coordinates.
            colour: (3,) RGB.
        """
        self.shapes.append(("poly", points.ravel().tolist(), colour))


def quad_band(p0: np.ndarray, p1: np.ndarray, normal: np.ndarray, h0: float, h1: float,
              t0: float, t1: float) -> np.ndarray:
    """The band t0 … t1 of a tapered quad, as (4, 2) points.

    Args:
        p0, p1: the ends of the quad's axis.
        normal: unit vector across the axis.
        h0, h1: half widths at p0 and p1.
        t0, t1: the band's ends as fractions of the way from p0 to p1.

    Returns:
        The band's corners in drawing order.
    """
    start = p0 + (p1 - p0) * t0
    end = p0 + (p1 - p0) * t1
    half_start = h0 + (h1 - h0) * t0
    half_end = h0 + (h1 - h0) * t1
    return np.array([start + normal * half_start, end + normal * half_end,
                     end - normal * half_end, start - normal * half_start])
