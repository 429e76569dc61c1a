"""SyntheticPeople: procedural images of posed people, the embedded default dataset.

The paper trains and evaluates on LSP / LSP extended (Sec. 5.1.1), MPII (Sec. 5.1.2) and pretrains
the mask estimator ψ on UP-S1h silhouettes (Sec. 5.2). None of them can ship with the package, so
MirrorNet carries a generator of people that stands in for all three: every sample has an image,
the 16 joints in MPII order (`mirrornet.skeleton`), per-joint visibility and the person's
silhouette, and it can be written to disk in the real file formats (`export_synthetic`).

How a sample is made (`generate_sample`; all randomness from `SeedSequence(seed, spawn_key=(index,))`,
so sample i of seed S is the same whatever the order or the number of workers), one module a step:

1. `pose`: one of eight families (standing, walking, running, jumping, throwing, kicking,
   sitting, bending) plus noise, every angle clipped to an anatomical range (`JOINT_LIMITS`):
   knees and elbows bend one way only.
2. `body`: human proportions (segment lengths as fractions of the body height, each scaled by
   ±10 %, left and right equal), and the 3-D skeleton posed by the angles. The pelvis is the
   midpoint of the hips and the thorax the midpoint of the shoulders, exactly, so the 14-joint
   LSP export loses nothing.
3. `camera`: any yaw, moderate pitch, an in-plane roll; weak-perspective projection, framed so the
   person fills most of the square image (as LSP crops do), now and then partly cut off.
4. `appearance`: per-person skin, hair, shirt, trouser and shoe colours and patterns.
5. `render`: depth-ordered tapered limbs (painter's algorithm); a head with hair, eyes and mouth
   drawn only on the side facing the camera, and a V-neck and a badge on the *left* chest drawn
   only when the chest faces the camera, so that left and right can be told apart from the image.
   Drawn at 2× (`parts`) and box-filtered down, which anti-aliases every edge.
6. `scene`: gradient / textured backgrounds, a floor with lines, clutter that includes limb-like
   shapes in body colours behind the person, occluders in front of it; `effects`: lighting, blur
   and noise. All scaled by `difficulty` in [0, 1].

`visibility` reads the joints' visibility and the silhouette from the 2× part map; `dataset` holds
the pipeline and the `SyntheticPeople` dataset, `export` the writers of the LSP, LSPET and MPII
file formats.
"""

from __future__ import annotations

from mirrornet.data.synthetic.appearance import Appearance, sample_appearance
from mirrornet.data.synthetic.body import SEGMENT_PROPORTIONS, BodyShape, PosedBody, pose_body, sample_body_shape
from mirrornet.data.synthetic.camera import Camera, Projection, place_camera
from mirrornet.data.synthetic.dataset import SyntheticPeople, SyntheticRecords, generate_sample
from mirrornet.data.synthetic.effects import apply_camera_effects
from mirrornet.data.synthetic.export import EXPORT_FORMATS, MPII_VALID_FRACTION, export_synthetic
from mirrornet.data.synthetic.parts import PART_NAMES, Canvas
from mirrornet.data.synthetic.pose import JOINT_LIMITS, POSE_FAMILIES, Pose, sample_pose
from mirrornet.data.synthetic.render import PersonDrawing, draw_person
from mirrornet.data.synthetic.scene import add_occluders, draw_background, draw_clutter
from mirrornet.data.synthetic.visibility import joint_visibility, silhouette

__all__ = [
    "SyntheticPeople",
    "SyntheticRecords",
    "POSE_FAMILIES",
    "JOINT_LIMITS",
    "SEGMENT_PROPORTIONS",
    "PART_NAMES",
    "export_synthetic",
    "EXPORT_FORMATS",
    "MPII_VALID_FRACTION",
    # the steps of one sample, in the order `generate_sample` runs them
    "generate_sample",
    "Pose",
    "sample_pose",
    "BodyShape",
    "PosedBody",
    "sample_body_shape",
    "pose_body",
    "Camera",
    "Projection",
    "place_camera",
    "Appearance",
    "sample_appearance",
    "Canvas",
    "draw_background",
    "draw_clutter",
    "PersonDrawing",
    "draw_person",
    "add_occluders",
    "silhouette",
    "joint_visibility",
    "apply_camera_effects",
]
