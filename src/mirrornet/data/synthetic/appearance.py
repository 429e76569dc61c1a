"""The appearance of a synthetic person: skin, hair and clothes.

Colours are float RGB arrays in 0 … 255.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Appearance", "SHIRT_PATTERNS", "SKIN_TONES", "HAIR_COLOURS", "random_colour", "sample_appearance"]

SKIN_TONES = np.array(
    [(255, 224, 196), (241, 194, 125), (224, 172, 105), (198, 134, 66), (161, 102, 64), (110, 68, 40)],
    dtype=np.float64,
)
HAIR_COLOURS = np.array(
    [(20, 16, 14), (60, 38, 24), (110, 72, 40), (200, 160, 90), (150, 60, 30), (170, 170, 170)],
    dtype=np.float64,
)
SHIRT_PATTERNS: tuple[str, ...] = ("plain", "stripes", "band", "two_tone")


def random_colour(rng: np.random.Generator, saturation: tuple[float, float],
                  value: tuple[float, float]) -> np.ndarray:
    """A random colour with uniform hue and saturation / value drawn from the given ranges.

    Args:
        rng: the random generator.
        saturation: (low, high) range of the HSV saturation.
        value: (low, high) range of the HSV value.

    Returns:
        (3,) RGB in 0 … 255.
    """
    hue, saturation_draw, value_draw = rng.random(3)
    red, green, blue = colorsys.hsv_to_rgb(hue, saturation[0] + saturation_draw * (saturation[1] - saturation[0]),
                                           value[0] + value_draw * (value[1] - value[0]))
    return np.array([red, green, blue]) * 255.0


@dataclass(frozen=True)
class Appearance:
    """One person's colours and clothes.

    Attributes:
        skin, hair, shirt, trousers, shoes: (3,) RGB colours.
        shirt2: the shirt's second colour (stripes, band, or the sleeves of a two-tone shirt).
        badge: the colour of the badge on the left chest.
        shirt_pattern: index into `SHIRT_PATTERNS`.
        long_sleeves: sleeves down to the wrists (else bare forearms).
        long_trousers: trousers down to the ankles (else bare shanks).
        num_stripes: stripes of a striped shirt (2 … 4).
    """

    skin: np.ndarray
    hair: np.ndarray
    shirt: np.ndarray
    shirt2: np.ndarray
    trousers: np.ndarray
    shoes: np.ndarray
    badge: np.ndarray
    shirt_pattern: int
    long_sleeves: bool
    long_trousers: bool
    num_stripes: int

    @property
    def sleeve(self) -> np.ndarray:
        """The colour of the sleeves: the second colour on a two-tone shirt."""
        return self.shirt2 if SHIRT_PATTERNS[self.shirt_pattern] == "two_tone" else self.shirt

    def factors(self) -> dict[str, Any]:
        """The hidden factors a sample reports about its appearance."""
        return {"skin": self.skin, "hair": self.hair, "shirt": self.shirt, "shirt2": self.shirt2,
                "trousers": self.trousers, "shoes": self.shoes, "shirt_pattern": self.shirt_pattern,
                "long_sleeves": self.long_sleeves, "long_trousers": self.long_trousers}


def sample_appearance(rng: np.random.Generator) -> Appearance:
    """Draw a person's skin tone, hair colour and clothes.

    Args:
        rng: the sample's random generator.

    Returns:
        The appearance.
    """
    skin = SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.92, 1.05)
    hair = HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))]
    shirt = random_colour(rng, (0.2, 0.95), (0.25, 0.95))
    shirt2 = random_colour(rng, (0.0, 0.9), (0.15, 1.0))
    trousers = random_colour(rng, (0.1, 0.8), (0.12, 0.8))
    shoes = random_colour(rng, (0.0, 0.6), (0.1, 0.95))
    # Half the badges are the shirt's complement, so they stand out on any shirt.
    badge = 255.0 - shirt if rng.random() < 0.5 else random_colour(rng, (0.6, 1.0), (0.7, 1.0))
    shirt_pattern = int(rng.integers(len(SHIRT_PATTERNS)))
    long_sleeves = bool(rng.random() < 0.4)
    long_trousers = bool(rng.random() < 0.55)
    num_stripes = int(rng.integers(2, 5))
    return Appearance(skin, hair, shirt, shirt2, trousers, shoes, badge, shirt_pattern, long_sleeves,
                      long_trousers, num_stripes)
