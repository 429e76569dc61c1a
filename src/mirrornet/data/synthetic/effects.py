"""The camera's effects on a finished synthetic image.

Gaussian blur, a colour cast, a brightness change, a lighting ramp and sensor noise, all scaled
by `difficulty`. At difficulty 0 there is no blur and no noise, and the image only gets darker.
They run as 8-bit PIL operations: a float pipeline over the pixels would cost as much as drawing
the whole person.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PIL import Image, ImageChops, ImageFilter

__all__ = ["apply_camera_effects", "gaussian_noise"]

_NOISE_POOL_SIZE = 1 << 20
_NOISE_POOL_SEED = 20240607
_noise_pool: np.ndarray | None = None


def gaussian_noise(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normal pixel noise: a random window of a fixed pool of normals.

    Drawing 49k normals per 128 px image costs more than the rest of the pixel work together;
    a window at a random offset of a fixed pool (drawn once from a fixed seed) is as good for
    sensor noise and stays deterministic in (seed, index). Images larger than half the pool get
    fresh normals.

    Args:
        rng: the sample's random generator.
        shape: the shape of the noise.

    Returns:
        float32 normals of that shape (read-only when taken from the pool).
    """
    global _noise_pool
    count = int(np.prod(shape))
    if count > _NOISE_POOL_SIZE // 2:
        return rng.standard_normal(shape, dtype=np.float32)
    if _noise_pool is None:
        _noise_pool = np.random.default_rng(_NOISE_POOL_SEED).standard_normal(_NOISE_POOL_SIZE, dtype=np.float32)
    start = int(rng.integers(_NOISE_POOL_SIZE - count))
    return _noise_pool[start:start + count].reshape(shape)


def _light(rng: np.random.Generator, image: Image.Image, size: int, difficulty: float) -> tuple[Image.Image, float, float]:
    """A colour cast with a brightness change, then a darkening ramp across the image.

    Returns:
        (the image, the brightness factor, the ramp's strength).
    """
    cast = 1.0 + rng.uniform(-0.12, 0.12, size=3) * (0.3 + difficulty)
    brightness = float(rng.uniform(1.0 - 0.35 * difficulty, 1.0))
    gain = cast / cast.max() * brightness  # <= 1: a multiply by a constant colour
    image = ImageChops.multiply(image, Image.new("RGB", (size, size), tuple(int(round(255 * channel)) for channel in gain)))
    direction = rng.uniform(0.0, 2 * math.pi)
    ramp = float(rng.uniform(0.0, 0.1 + 0.5 * difficulty))
    if ramp > 0.02:
        coord = np.linspace(0.0, 1.0, size)
        along = coord[None, :] * math.cos(direction) + coord[:, None] * math.sin(direction)  # (S, S)
        along = (along - along.min()) / max(along.max() - along.min(), 1e-9)
        shade_map = Image.fromarray(np.round(255.0 * (1.0 - ramp * along)).astype(np.uint8))
        image = ImageChops.multiply(image, Image.merge("RGB", (shade_map,) * 3))
    return image, brightness, ramp


def apply_camera_effects(rng: np.random.Generator, image: Image.Image,
                         difficulty: float) -> tuple[np.ndarray, dict[str, float]]:
    """Blur (probability 0.5 × difficulty), lighting, and noise (σ up to 14 × difficulty).

    Args:
        rng: the sample's random generator.
        image: the S × S RGB image.
        difficulty: scene difficulty in [0, 1].

    Returns:
        (a writable (S, S, 3) uint8 copy of the result, {"blur": Gaussian radius or 0,
        "noise": σ in grey levels, "brightness": factor, "light_ramp": darkening across the image}).
    """
    size = image.size[0]
    blur = 0.0
    if rng.random() < 0.5 * difficulty:
        blur = float(rng.uniform(0.3, 0.4 + 0.8 * difficulty)) * size / 128.0  # the same look at any size
        image = image.filter(ImageFilter.GaussianBlur(blur))
    image, brightness, ramp = _light(rng, image, size, difficulty)
    noise = 0.0
    if rng.random() < 0.3 + 0.6 * difficulty:
        noise = float(rng.uniform(0.0, 14.0 * difficulty))
        if noise > 0.5:
            grain = np.clip(gaussian_noise(rng, (size, size, 3)) * noise + 128.5, 0, 255).astype(np.uint8)
            image = ImageChops.add(image, Image.fromarray(grain), 1.0, -128)
    effects: dict[str, Any] = {"blur": blur, "noise": noise, "brightness": brightness, "light_ramp": ramp}
    return np.array(image), effects
