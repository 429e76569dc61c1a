"""The scene around a synthetic person, scaled by `difficulty` in [0, 1].

Behind the person: a gradient background with an optional texture and floor, and clutter of which
about half are limb-like shapes in body colours (so that a pose estimator cannot take every
skin-coloured capsule for a limb). In front: occluders near a joint, which cut the silhouette and
hide the joints they cover.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from mirrornet.data.synthetic.appearance import SKIN_TONES, random_colour
from mirrornet.data.synthetic.parts import OCCLUDER_LABEL, Canvas, PartDrawing
from mirrornet.skeleton import NUM_JOINTS

__all__ = ["BACKGROUND_TEXTURES", "draw_background", "draw_clutter", "draw_occluder", "add_occluders"]

BACKGROUND_TEXTURES: tuple[str, ...] = ("none", "stripes", "blotches", "checkerboard")


def _texture(rng: np.random.Generator, image: np.ndarray, size: int, texture: int,
             strength: float) -> np.ndarray:
    """Add one of `BACKGROUND_TEXTURES` of the given strength to a (S, S, 3) float image."""
    if texture == 1:  # stripes at a random angle
        angle = rng.uniform(0, math.pi)
        period = rng.uniform(0.04, 0.25) * size
        coord = np.arange(size, dtype=np.float32)
        phase = (coord[None, :] * math.cos(angle) + coord[:, None] * math.sin(angle)) * (2 * math.pi / period)
        return image + (np.sin(phase) * strength)[:, :, None]
    if texture == 2:  # blotches: a coarse random field smoothly upsampled
        coarse = rng.uniform(-1, 1, size=(int(rng.integers(3, 9)),) * 2 + (3,)).astype(np.float32)
        field = Image.fromarray(((coarse + 1) * 127.5).astype(np.uint8)).resize((size, size), Image.Resampling.BILINEAR)
        return image + (np.asarray(field, dtype=np.float32) - 127.5) * (strength / 127.5)
    if texture == 3:  # checkerboard (tiles, wall)
        cell = max(2, int(rng.uniform(0.05, 0.2) * size))
        tile = np.arange(size) // cell
        return image + (((tile[:, None] + tile[None, :]) % 2) * strength - strength / 2)[:, :, None].astype(np.float32)
    return image


def _floor(rng: np.random.Generator, canvas: Image.Image, size: int) -> None:
    """A floor below a random horizon, with lines converging to a vanishing point on it."""
    draw = ImageDraw.Draw(canvas)
    horizon = rng.uniform(0.45, 0.85) * 2 * size
    floor_colour = tuple(int(channel) for channel in rng.uniform(40, 200, size=3))
    draw.rectangle([0, horizon, 2 * size, 2 * size], fill=floor_colour)
    line_colour = tuple(int(channel) for channel in np.clip(np.array(floor_colour) + rng.uniform(-60, 60), 0, 255))
    vanishing_x = rng.uniform(0, 2 * size)
    for x in np.linspace(-2 * size, 4 * size, int(rng.integers(2, 9))):
        draw.line([vanishing_x, horizon, x, 2 * size], fill=line_colour, width=max(1, size // 64))


def draw_background(rng: np.random.Generator, size: int, difficulty: float) -> tuple[Image.Image, dict[str, Any]]:
    """A random background drawn at 1× and upsampled to the 2× canvas: gradient, texture, floor.

    Args:
        rng: the sample's random generator.
        size: image side S in pixels.
        difficulty: scene difficulty; textures are likelier and stronger when it is high.

    Returns:
        (the 2S × 2S RGB canvas, {"texture": index into `BACKGROUND_TEXTURES`, "floor": bool}).
    """
    top = rng.uniform(40, 230, size=3)
    bottom = top * rng.uniform(0.6, 1.1) + rng.uniform(-40, 40, size=3) * (0.3 + difficulty)
    fraction = np.linspace(0.0, 1.0, size, dtype=np.float32)[:, None, None]  # (S, 1, 1), top to bottom
    image = np.broadcast_to(top.astype(np.float32) + (bottom - top).astype(np.float32) * fraction, (size, size, 3))
    texture = int(rng.integers(len(BACKGROUND_TEXTURES))) if rng.random() < 0.2 + 0.8 * difficulty else 0
    strength = float(rng.uniform(10, 25 + 40 * difficulty))
    image = _texture(rng, image, size, texture, strength)
    canvas = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).resize((2 * size, 2 * size),
                                                                            Image.Resampling.NEAREST)
    floor = bool(rng.random() < 0.6)
    if floor:
        _floor(rng, canvas, size)
    return canvas, {"texture": texture, "floor": floor}


def draw_clutter(rng: np.random.Generator, draw: ImageDraw.ImageDraw, size: int, difficulty: float,
                 body_colours: tuple[np.ndarray, ...]) -> int:
    """Draw objects behind the person: limb-like capsules, ellipses and rectangles.

    Args:
        rng: the sample's random generator.
        draw: drawing context of the 2× canvas (the part map is not touched: clutter is scene).
        size: image side S in pixels.
        difficulty: the mean number of objects is 0.3 + 7 × difficulty.
        body_colours: the person's colours; about half the objects take one of them.

    Returns:
        The number of objects drawn.
    """
    count = int(rng.poisson(0.3 + 7.0 * difficulty))
    for _ in range(count):
        kind = rng.random()
        if rng.random() < 0.5:
            colour = body_colours[int(rng.integers(len(body_colours)))] * rng.uniform(0.8, 1.1)
        elif rng.random() < 0.5:
            colour = SKIN_TONES[int(rng.integers(len(SKIN_TONES)))]
        else:
            colour = random_colour(rng, (0.0, 1.0), (0.1, 1.0))
        fill = tuple(int(channel) for channel in np.clip(colour, 0, 255))
        centre = rng.uniform(-0.1, 1.1, size=2) * 2 * size
        if kind < 0.55:  # limb-like: a tapered capsule
            angle = rng.uniform(0, 2 * math.pi)
            length = rng.uniform(0.1, 0.4) * 2 * size
            r0 = rng.uniform(0.015, 0.05) * 2 * size
            r1 = r0 * rng.uniform(0.6, 1.0)
            end = centre + length * np.array([math.cos(angle), math.sin(angle)])
            capsule = PartDrawing(0, 0.0)
            capsule.limb(centre, end, r0, r1, np.zeros(3))
            for shape, coords, _ in capsule.shapes:
                (draw.polygon if shape == "poly" else draw.ellipse)(coords, fill=fill)
        elif kind < 0.8:
            radii = rng.uniform(0.03, 0.15, size=2) * 2 * size
            draw.ellipse([centre[0] - radii[0], centre[1] - radii[1], centre[0] + radii[0], centre[1] + radii[1]],
                         fill=fill)
        else:
            radii = rng.uniform(0.03, 0.2, size=2) * 2 * size
            draw.rectangle([centre[0] - radii[0], centre[1] - radii[1], centre[0] + radii[0], centre[1] + radii[1]],
                           fill=fill)
    return count


def draw_occluder(rng: np.random.Generator, canvas: Canvas, near: np.ndarray, size: int) -> dict[str, Any]:
    """Draw an opaque object in front of the person near a canvas point, on image and part map.

    Args:
        rng: the sample's random generator.
        canvas: the 2× canvas.
        near: (2,) canvas point the object is centred around (a joint).
        size: image side S in pixels.

    Returns:
        Its geometry in image pixels: a "board" (``center``, unit ``axes`` u and v as rows,
        ``half_sizes`` along them) or a "ball" (``center``, ``radius``).
    """
    fill = tuple(int(channel) for channel in random_colour(rng, (0.0, 1.0), (0.1, 1.0)))
    centre = near + rng.normal(0.0, 0.06 * 2 * size, size=2)
    if rng.random() < 0.6:  # a rotated board or pole
        angle = rng.uniform(0, math.pi)
        half_u = rng.uniform(0.06, 0.3) * 2 * size
        half_v = rng.uniform(0.03, 0.12) * 2 * size
        u = np.array([math.cos(angle), math.sin(angle)])
        v = np.array([-u[1], u[0]])
        corners = np.stack([centre + half_u * u + half_v * v, centre + half_u * u - half_v * v,
                            centre - half_u * u - half_v * v, centre - half_u * u + half_v * v]).ravel().tolist()
        canvas.paint("poly", corners, fill, OCCLUDER_LABEL)
        return {"shape": "board", "center": (centre - 0.5) / 2.0, "axes": np.stack([u, v]),
                "half_sizes": np.array([half_u, half_v]) / 2.0}
    radius = rng.uniform(0.05, 0.14) * 2 * size  # a ball
    canvas.paint("ellipse", [centre[0] - radius, centre[1] - radius, centre[0] + radius, centre[1] + radius],
                 fill, OCCLUDER_LABEL)
    return {"shape": "ball", "center": (centre - 0.5) / 2.0, "radius": radius / 2.0}


def add_occluders(rng: np.random.Generator, canvas: Canvas, canvas_joints: np.ndarray, size: int,
                  difficulty: float) -> list[dict[str, Any]]:
    """With probability 0.7 × difficulty, one (or, 30 % of the time, two) occluders near random joints.

    Args:
        rng: the sample's random generator.
        canvas: the 2× canvas, with the person already drawn.
        canvas_joints: (16, 2) joints in canvas coordinates.
        size: image side S in pixels.
        difficulty: scene difficulty in [0, 1].

    Returns:
        The occluders' geometries (`draw_occluder`), possibly none.
    """
    occluders: list[dict[str, Any]] = []
    if rng.random() < 0.7 * difficulty:
        for _ in range(1 + int(rng.random() < 0.3)):
            occluders.append(draw_occluder(rng, canvas, canvas_joints[int(rng.integers(NUM_JOINTS))], size))
    return occluders
