"""Tests of the steps of a synthetic person, each on its own: pose, body, camera, appearance,
person rendering, scene, camera effects; and of the package's import structure."""

from __future__ import annotations

import ast
import colorsys
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mirrornet.data.synthetic import (
    JOINT_LIMITS,
    POSE_FAMILIES,
    SEGMENT_PROPORTIONS,
    SyntheticPeople,
    generate_sample,
)
from mirrornet.data.synthetic.appearance import SHIRT_PATTERNS, random_colour, sample_appearance
from mirrornet.data.synthetic.body import pose_body, sample_body_shape
from mirrornet.data.synthetic.camera import (
    NUM_POINTS,
    POINT_HEAD_CENTRE,
    body_points,
    camera_rotation,
    frame_person,
    place_camera,
)
from mirrornet.data.synthetic.effects import apply_camera_effects, gaussian_noise
from mirrornet.data.synthetic.parts import OCCLUDER_LABEL, PART_LABEL, SCENE_LABEL, Canvas, PartDrawing
from mirrornet.data.synthetic.pose import limit_angles, sample_family_angles, sample_pose
from mirrornet.data.synthetic.render import canvas_points, draw_person, paint_parts
from mirrornet.data.synthetic.scene import add_occluders, draw_background, draw_clutter, draw_occluder
from mirrornet.data.synthetic.visibility import JOINT_PARTS, joint_visibility, silhouette
from mirrornet.skeleton import JOINT_INDEX, NUM_JOINTS

J = JOINT_INDEX
PACKAGE = Path(__file__).resolve().parents[2] / "src" / "mirrornet" / "data" / "synthetic"


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _base(key: str) -> str:
    return key[2:] if key[:2] in ("r_", "l_") else key


# ------------------------------------------------------------------------------------------
# pose


def test_every_family_has_the_same_angle_keys_in_the_same_order() -> None:
    # limit_angles draws one noise value per key in key order: the order is part of the stream.
    orders = {family: list(sample_family_angles(family, _rng(1))) for family in POSE_FAMILIES}
    assert len({tuple(keys) for keys in orders.values()}) == 1
    with pytest.raises(ValueError, match="pose family"):
        sample_family_angles("dancing", _rng(1))


@pytest.mark.parametrize("family, key, low, high", [
    ("sitting", "hip_flex", 75, 105), ("sitting", "knee_flex", 70, 110),
    ("bending", "torso_lean", 45, 88), ("running", "elbow_flex", 70, 110),
    ("walking", "elbow_flex", 5, 40), ("standing", "hip_flex", -5, 10),
])
def test_families_pose_the_body_as_their_name_says(family: str, key: str, low: float, high: float) -> None:
    for seed in range(30):
        angles = sample_family_angles(family, _rng(seed))
        values = [angles[k] for k in angles if _base(k) == key]
        assert values and all(low <= v <= high for v in values), (seed, values)


def test_limit_angles_clips_to_the_joint_limits_and_spares_whole_body_angles() -> None:
    angles = {"r_knee_flex": -40.0, "l_elbow_flex": 400.0, "torso_lean": 10.0, "body_tilt": 7.0}
    limited = limit_angles(angles, _rng(0), noise_deg=5.0)
    assert list(limited) == list(angles)
    assert limited["r_knee_flex"] == JOINT_LIMITS["knee_flex"][0]
    assert limited["l_elbow_flex"] == JOINT_LIMITS["elbow_flex"][1]
    assert limited["torso_lean"] != 10.0 and abs(limited["torso_lean"] - 10.0) < 30.0  # noise, 6 σ
    assert limited["body_tilt"] == 7.0  # no noise on the whole body's tilt
    assert limit_angles(angles, _rng(0), noise_deg=0.0)["torso_lean"] == 10.0


def test_sampled_poses_stay_in_limits_and_differ_between_seeds() -> None:
    poses = [sample_pose(_rng(seed)) for seed in range(200)]
    assert {pose.family for pose in poses} == set(POSE_FAMILIES)
    for pose in poses:
        assert POSE_FAMILIES[pose.family_index] == pose.family
        for key, value in pose.angles.items():
            if _base(key) in JOINT_LIMITS:
                low, high = JOINT_LIMITS[_base(key)]
                assert low <= value <= high
    assert poses[0].angles != poses[1].angles


# ------------------------------------------------------------------------------------------
# body


def test_body_proportions_lie_in_the_documented_ranges_and_differ_between_seeds() -> None:
    shapes = [sample_body_shape(_rng(seed)) for seed in range(100)]
    for shape in shapes:
        assert 1.3 < shape.height < 2.1 and 0.85 <= shape.build <= 1.2
        assert list(shape.segments) == list(SEGMENT_PROPORTIONS)
        for name, fraction in SEGMENT_PROPORTIONS.items():
            assert 0.9 * fraction - 1e-12 <= shape.segments[name] / shape.height <= 1.1 * fraction + 1e-12
    thighs = [shape.segments["thigh"] / shape.height for shape in shapes]
    assert max(thighs) - min(thighs) > 0.03  # per-person variation, not one fixed body
    assert shapes[0].height != shapes[1].height


_BONES = [  # (joint, joint, segment)
    ("pelvis", "thorax", "spine"), ("thorax", "upper_neck", "neck"), ("upper_neck", "head_top", "head"),
    *[(f"{s}_{a}", f"{s}_{b}", seg) for s in "rl" for a, b, seg in (
        ("hip", "knee", "thigh"), ("knee", "ankle", "shank"), ("shoulder", "elbow", "upper_arm"),
        ("elbow", "wrist", "forearm"))],
    *[("pelvis", f"{s}_hip", "hip_half") for s in "rl"],
    *[("thorax", f"{s}_shoulder", "shoulder_half") for s in "rl"],
]


def test_posing_keeps_every_bone_length() -> None:
    for seed in range(50):
        rng = _rng(seed)
        pose, shape = sample_pose(rng), sample_body_shape(rng)
        body = pose_body(pose.angles, shape.segments)
        for a, b, segment in _BONES:
            length = np.linalg.norm(body.joints[J[a]] - body.joints[J[b]])
            assert length == pytest.approx(shape.segments[segment], rel=1e-12), (seed, a, b)
        for side in "rl":  # the foot: ankle to toe along the sole, 2 cm below it
            foot = np.linalg.norm(body.toes[side] - body.joints[J[f"{side}_ankle"]])
            assert foot == pytest.approx(np.hypot(shape.segments["foot"], 0.02), rel=1e-12)


def test_neutral_pose_stands_upright_facing_plus_z() -> None:
    angles = {key: 0.0 for key in sample_family_angles("standing", _rng(0))}
    body = pose_body(angles, dict(SEGMENT_PROPORTIONS))
    joints = body.joints
    assert joints[J["head_top"], 1] > joints[J["thorax"], 1] > joints[J["pelvis"], 1] > joints[J["r_knee"], 1]
    assert joints[J["l_hip"], 0] > 0 > joints[J["r_hip"], 0]  # x = the person's left
    assert body.toes["r"][2] > joints[J["r_ankle"], 2]  # the feet point forward
    angles["r_hip_flex"] = 90.0  # flexion lifts the thigh forward
    assert pose_body(angles, dict(SEGMENT_PROPORTIONS)).joints[J["r_knee"], 2] > 0.2


# ------------------------------------------------------------------------------------------
# camera


def test_camera_rotation_is_a_rotation_and_yaw_turns_the_person() -> None:
    assert np.allclose(camera_rotation(0.0, 0.0, 0.0), np.eye(3))
    rotation = camera_rotation(123.0, 17.0, -8.0)
    assert np.allclose(rotation @ rotation.T, np.eye(3)) and np.linalg.det(rotation) == pytest.approx(1.0)
    # Facing the camera (yaw 0) the person's left is on the image's right; from behind, on its left.
    left = np.array([1.0, 0.0, 0.0])
    assert (camera_rotation(0.0, 0.0, 0.0) @ left)[0] > 0 > (camera_rotation(180.0, 0.0, 0.0) @ left)[0]


def test_projection_puts_the_points_where_the_camera_sees_them() -> None:
    rng = _rng(3)
    pose, shape = sample_pose(rng), sample_body_shape(rng)
    body = pose_body(pose.angles, shape.segments)
    projection = place_camera(rng, body, shape, 96, 0.5)
    camera = projection.camera
    points = body_points(body, shape.segments)
    assert points.shape == (NUM_POINTS, 3) and projection.pixels.shape == (NUM_POINTS, 2)
    in_camera = points @ camera.rotation.T
    expected = np.stack([in_camera[:, 0], -in_camera[:, 1]], axis=1) * camera.pixels_per_unit + camera.origin
    np.testing.assert_allclose(projection.pixels, expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(projection.depth, in_camera[:, 2], rtol=0, atol=1e-12)
    # The pelvis is the body origin: it lands on camera.origin.
    np.testing.assert_allclose(projection.joints[J["pelvis"]], camera.origin, atol=1e-9)
    # The head's centre lies between the neck and the head top.
    neck, top = projection.pixels[J["upper_neck"]], projection.pixels[J["head_top"]]
    assert np.linalg.norm(projection.pixels[POINT_HEAD_CENTRE] - (neck + top) / 2) < 0.3 * np.linalg.norm(top - neck)


def test_framing_fills_most_of_the_frame_or_cuts_the_person() -> None:
    xy = np.array([[0.0, -0.9], [0.2, 0.0], [-0.25, 0.8]])  # metres, image axes
    height, size = 1.7, 100
    margin = 0.06 * height
    seen_cut = seen_whole = 0
    for seed in range(300):
        scale, origin, cut = frame_person(_rng(seed), xy, height, size, difficulty=1.0)
        low = (xy.min(axis=0) - margin) * scale + origin
        high = (xy.max(axis=0) + margin) * scale + origin
        larger = float(np.max(high - low))
        if cut:
            seen_cut += 1
            assert larger >= size - 1e-9
        else:
            seen_whole += 1
            assert 0.75 * size - 1e-9 <= larger <= 0.95 * size + 1e-9
            assert (low >= -1e-9).all() and (high <= size + 1e-9).all()
    assert seen_cut > 20 and seen_whole > 150  # cut with probability 0.05 + 0.15 at difficulty 1


# ------------------------------------------------------------------------------------------
# appearance


def test_colours_lie_in_their_ranges_and_sleeves_follow_the_pattern() -> None:
    for seed in range(50):
        colour = random_colour(_rng(seed), (0.2, 0.4), (0.5, 0.6))
        _, saturation, value = colorsys.rgb_to_hsv(*(colour / 255.0))
        assert 0.2 - 1e-9 <= saturation <= 0.4 + 1e-9 and 0.5 - 1e-9 <= value <= 0.6 + 1e-9
        look = sample_appearance(_rng(seed))
        two_tone = SHIRT_PATTERNS[look.shirt_pattern] == "two_tone"
        assert look.sleeve is (look.shirt2 if two_tone else look.shirt)
        assert 2 <= look.num_stripes <= 4


# ------------------------------------------------------------------------------------------
# rendering the person


def _person(seed: int, size: int = 64):
    rng = _rng(seed)
    pose, shape = sample_pose(rng), sample_body_shape(rng)
    body = pose_body(pose.angles, shape.segments)
    projection = place_camera(rng, body, shape, size, 0.0)
    return body, shape, projection, sample_appearance(rng)


def test_the_person_is_drawn_exactly_where_the_part_map_says() -> None:
    size = 64
    for seed in range(10):
        body, shape, projection, look = _person(seed, size)
        canvas = Canvas.over(Image.new("RGB", (2 * size, 2 * size), (255, 255, 255)))  # no part is pure white
        drawing = draw_person(canvas, body, shape, projection, look)
        labels = np.asarray(canvas.labels)
        changed = (np.asarray(canvas.image) != 255).any(axis=2)
        assert np.array_equal(changed, labels != SCENE_LABEL)
        assert set(np.unique(labels)) <= {SCENE_LABEL, *PART_LABEL.values()}
        assert PART_LABEL["head"] in labels and PART_LABEL["torso"] in labels
        ys, xs = np.nonzero(labels)  # the box holds every painted canvas pixel (1× coordinates)
        box = drawing.box
        assert box[0] <= (xs.min() - 0.5) / 2 + 0.5 and (xs.max() - 0.5) / 2 - 0.5 <= box[2]
        assert box[1] <= (ys.min() - 0.5) / 2 + 0.5 and (ys.max() - 0.5) / 2 - 0.5 <= box[3]
        (x1, y1), (x2, y2) = drawing.head_box
        assert x1 <= projection.joints[J["head_top"], 0] <= x2 and y1 <= projection.joints[J["head_top"], 1] <= y2


def test_silhouette_covers_the_visible_joints_and_most_joints_are_visible() -> None:
    size, visible_total = 64, 0
    for seed in range(20):
        body, shape, projection, look = _person(seed, size)
        canvas = Canvas.over(Image.new("RGB", (2 * size, 2 * size), (90, 90, 90)))
        draw_person(canvas, body, shape, projection, look)
        mask = silhouette(canvas.labels)
        joints = projection.joints
        visible = joint_visibility(canvas.labels, canvas_points(projection)[:NUM_JOINTS], joints, mask)
        pixels = np.round(joints[visible]).astype(int)
        assert mask[pixels[:, 1], pixels[:, 0]].all()
        # The front-most part at a visible joint is one that meets there, never another limb in front.
        canvas_pixels = np.floor(canvas_points(projection)[:NUM_JOINTS]).astype(int)
        labels = np.asarray(canvas.labels)
        for joint in np.flatnonzero(visible):
            name = [n for n, i in J.items() if i == joint][0]
            x, y = canvas_pixels[joint]
            assert labels[y, x] in {PART_LABEL[part] for part in JOINT_PARTS[name]}, (seed, name)
        visible_total += int(visible.sum())
        assert mask.mean() > 0.05  # a person, not a speck
    assert visible_total > 0.7 * 20 * NUM_JOINTS  # no occluders: self-occlusion hides only a few


def test_painter_draws_nearer_parts_on_top_and_farther_parts_darker() -> None:
    canvas = Canvas.over(Image.new("RGB", (40, 40), (0, 0, 0)))
    near = PartDrawing(PART_LABEL["r_hand"], depth=1.0)
    near.circle(np.array([24.0, 20.0]), 8.0, np.array([200.0, 200.0, 200.0]))
    far = PartDrawing(PART_LABEL["torso"], depth=-1.0)
    far.circle(np.array([16.0, 20.0]), 8.0, np.array([200.0, 200.0, 200.0]))
    paint_parts(canvas, [near, far], depth=np.array([-1.0, 1.0]))  # listed near first: sorting must fix it
    labels, image = np.asarray(canvas.labels), np.asarray(canvas.image)
    assert labels[20, 20] == PART_LABEL["r_hand"]  # the overlap belongs to the nearer part
    assert labels[20, 10] == PART_LABEL["torso"]
    assert image[20, 10, 0] == int(200 * 0.78) and image[20, 28, 0] == 200  # farthest shaded by 0.78


# ------------------------------------------------------------------------------------------
# scene


def test_background_without_texture_or_floor_is_a_vertical_gradient() -> None:
    plain = 0
    for seed in range(40):
        canvas, factors = draw_background(_rng(seed), 32, difficulty=0.0)
        assert canvas.size == (64, 64) and canvas.mode == "RGB"
        if factors["texture"] == 0 and not factors["floor"]:
            plain += 1
            pixels = np.asarray(canvas).astype(int)
            assert (pixels == pixels[:, :1]).all()  # every row one colour
    assert plain >= 5


def test_clutter_is_scene_and_occluders_are_labelled() -> None:
    size = 32
    canvas = Canvas.over(Image.new("RGB", (2 * size, 2 * size), (0, 0, 0)))
    count = draw_clutter(_rng(5), canvas.draw, size, 1.0, (np.array([200.0, 150.0, 120.0]),))
    assert count > 0 and np.asarray(canvas.image).any()
    assert not np.asarray(canvas.labels).any()  # clutter stays behind the person: label 0
    for seed in range(10):
        canvas = Canvas.over(Image.new("RGB", (2 * size, 2 * size), (0, 0, 0)))
        occluder = draw_occluder(_rng(seed), canvas, np.array([32.0, 32.0]), size)
        centre = np.round(occluder["center"] * 2 + 0.5).astype(int)
        if (0 <= centre).all() and (centre < 2 * size).all():
            assert np.asarray(canvas.labels)[centre[1], centre[0]] == OCCLUDER_LABEL
    untouched = Canvas.over(Image.new("RGB", (2 * size, 2 * size), (0, 0, 0)))
    assert add_occluders(_rng(0), untouched, np.zeros((NUM_JOINTS, 2)), size, difficulty=0.0) == []
    assert not np.asarray(untouched.labels).any()


def test_scene_stays_outside_the_person_and_occluders_cut_the_silhouette() -> None:
    size = 48
    for seed in range(10):
        body, shape, projection, look = _person(seed, size)
        background, _ = draw_background(_rng(100 + seed), size, difficulty=1.0)
        before = np.asarray(background).copy()
        canvas = Canvas.over(background)
        draw_person(canvas, body, shape, projection, look)
        labels = np.asarray(canvas.labels)
        outside = labels == SCENE_LABEL
        assert np.array_equal(np.asarray(canvas.image)[outside], before[outside])
        person_before = silhouette(canvas.labels)
        occluders = add_occluders(_rng(seed), canvas, canvas_points(projection)[:NUM_JOINTS], size, 1.0)
        person_after = silhouette(canvas.labels)
        assert not (person_after & ~person_before).any()  # occluders only ever remove person pixels
        if occluders:
            assert (np.asarray(canvas.labels) == OCCLUDER_LABEL).any()


# ------------------------------------------------------------------------------------------
# camera effects


def test_easy_effects_only_darken_and_hard_ones_add_blur_or_noise() -> None:
    image = Image.fromarray(_rng(0).integers(0, 256, size=(32, 32, 3), dtype=np.uint8))
    for seed in range(20):
        out, effects = apply_camera_effects(_rng(seed), image, difficulty=0.0)
        assert out.shape == (32, 32, 3) and out.dtype == np.uint8 and out.flags.writeable
        assert effects["blur"] == 0.0 and effects["noise"] == 0.0
        assert (out <= np.asarray(image)).all()
    hard = [apply_camera_effects(_rng(seed), image, difficulty=1.0)[1] for seed in range(20)]
    assert any(e["blur"] > 0 for e in hard) and any(e["noise"] > 0.5 for e in hard)


def test_noise_is_standard_normal_and_deterministic() -> None:
    small = gaussian_noise(_rng(4), (64, 64, 3))
    assert np.array_equal(small, gaussian_noise(_rng(4), (64, 64, 3)))
    assert abs(float(small.mean())) < 0.05 and abs(float(small.std()) - 1.0) < 0.05
    large = gaussian_noise(_rng(4), (600, 600, 3))  # over half the pool: fresh normals
    assert large.shape == (600, 600, 3) and abs(float(large.std()) - 1.0) < 0.01


# ------------------------------------------------------------------------------------------
# the pipeline and the package


def test_generate_sample_is_what_the_dataset_returns() -> None:
    people = SyntheticPeople(4, image_size=40, seed=9, difficulty=0.7, return_factors=True)
    direct = generate_sample(9, 3, 40, 0.7)
    item = people[3]
    for key in ("image", "joints", "visible", "mask", "box"):
        assert np.array_equal(direct[key], item[key])
    assert direct["factors"]["family"] == item["factors"]["family"]


@pytest.mark.parametrize("module", ["mirrornet.data.synthetic_export", "mirrornet.data.synthetic"])
def test_each_module_imports_first_in_a_fresh_process(module: str) -> None:
    code = (f"import {module}\n"
            "from mirrornet.data.synthetic import export_synthetic as a\n"
            "from mirrornet.data.synthetic_export import export_synthetic as b\n"
            "assert a is b\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_the_package_never_imports_the_export_alias_and_has_no_cycle() -> None:
    modules = {f"mirrornet.data.synthetic.{p.stem}": _imports(p) for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    for name, imported in modules.items():
        assert "mirrornet.data.synthetic_export" not in imported, name
        assert "mirrornet.data.synthetic" not in imported, name  # the package __init__ imports them all
    graph = {name: {m for m in imported if m in modules} for name, imported in modules.items()}
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"import cycle: {' -> '.join(path + (name,))}"
        if name not in done:
            for dependency in graph[name]:
                visit(dependency, path + (name,))
            done.add(name)

    for name in graph:
        visit(name, ())


def test_modules_and_functions_stay_small() -> None:
    for path in PACKAGE.glob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert source.count("\n") <= 450, path.name
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert node.end_lineno - node.lineno + 1 <= 80, (path.name, node.name)
