"""Draw a contact sheet of SyntheticPeople samples with their skeletons and silhouettes.

Each tile shows one sample: the image, the silhouette's outline (yellow), the skeleton (right limbs
red, left limbs blue, trunk green; visible joints filled, hidden joints hollow) and the pose
family. Writes docs/images/synthetic_people.png by default.

    python scripts/make_contact_sheet.py --rows 4 --cols 6 --size 128 --seed 0 --difficulty 0.5
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from mirrornet.data.synthetic import SyntheticPeople
from mirrornet.skeleton import LIMB_SIDES, LIMBS

SIDE_COLOURS = {"right": (230, 40, 40), "left": (40, 90, 240), "centre": (40, 200, 60)}


def outline(mask: np.ndarray) -> np.ndarray:
    """Pixels of the mask with a 4-neighbour outside it: the silhouette's contour."""
    padded = np.pad(mask, 1)
    interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return mask & ~interior


def tile(sample: dict, zoom: int) -> Image.Image:
    """One annotated sample, enlarged `zoom` times."""
    image = sample["image"].copy()
    image[outline(sample["mask"])] = (255, 230, 0)
    size = image.shape[0] * zoom
    im = Image.fromarray(image).resize((size, size), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(im)
    xy = (sample["joints"] + 0.5) * zoom  # pixel centres of the enlarged image
    width = max(1, zoom)
    for (a, b), side in zip(LIMBS, LIMB_SIDES):
        draw.line([tuple(xy[a]), tuple(xy[b])], fill=SIDE_COLOURS[side], width=width)
    r = 1.5 * zoom
    for j, (x, y) in enumerate(xy):
        bbox = [x - r, y - r, x + r, y + r]
        if sample["visible"][j] > 0:
            draw.ellipse(bbox, fill=(255, 255, 255), outline=(0, 0, 0))
        else:
            draw.ellipse(bbox, outline=(255, 255, 255), width=max(1, zoom // 2))
    label = sample["factors"]["family"]
    draw.rectangle([0, 0, 7 * len(label) + 6, 14], fill=(0, 0, 0))
    draw.text((3, 1), label, fill=(255, 255, 255))
    return im


def main(argv: list[str] | None = None) -> Path:
    """Parse arguments, draw the sheet, save it and return its path."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4)
    parser.add_argument("--cols", type=int, default=6)
    parser.add_argument("--size", type=int, default=128, help="sample image size in pixels")
    parser.add_argument("--zoom", type=int, default=2, help="enlargement of each tile")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--difficulty", type=float, default=0.5)
    parser.add_argument("--out", type=Path, default=Path("docs/images/synthetic_people.png"))
    args = parser.parse_args(argv)

    people = SyntheticPeople(args.rows * args.cols, image_size=args.size, seed=args.seed,
                             difficulty=args.difficulty, return_factors=True)
    side = args.size * args.zoom
    gap = 4
    sheet = Image.new("RGB", (args.cols * (side + gap) - gap, args.rows * (side + gap) - gap), (255, 255, 255))
    for i in range(len(people)):
        r, c = divmod(i, args.cols)
        sheet.paste(tile(people[i], args.zoom), (c * (side + gap), r * (side + gap)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, optimize=True)
    print(f"wrote {args.out} ({args.rows}x{args.cols} samples of {args.size} px, seed {args.seed})")
    return args.out


if __name__ == "__main__":
    main()
