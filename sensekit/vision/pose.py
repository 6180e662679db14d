"""Body pose: named keypoints per person (Apple Vision's VNDetectHumanBodyPoseRequest).

Two kinds of package:
* detector + landmarks (BlazePose), as in MediaPipe's pose landmarker: a detector finds
  people (SSD anchors, weighted NMS) and gives alignment keypoints; from them a rotated,
  square region of each person is warped to the landmark model's input, whose 33 landmarks
  are mapped back to the image (see sensekit/zoo/blazepose.py);
* one graph that gives every person at once (MoveNet MultiPose: up to 6 people, 17 COCO
  keypoints; see sensekit/zoo/movenet.py).
Keypoints share COCO's names where both models have them (``pose["left_wrist"]`` works on
either). Every constant comes from the manifest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sensekit.accelerate import image as kernels
from sensekit.accelerate import nn
from sensekit.core.blocks import ImagePreprocess
from sensekit.core.errors import InvalidInput
from sensekit.core.model import Model
from sensekit.core.tasks import Task, cached_default
from sensekit.core.types import BodyPose, Box, Keypoint
from sensekit.vision.image_input import ImageInput, Prepared, check_roi, normalize, prepare

DEFAULT_MODEL = "blazepose"
# Person boxes for detector + landmarks packages: CenterNet's, not BlazePose's own
# detector, which finds only large, near people (on tests/vision/detect_dev: 5 of 17
# people against 15 of 17; bench/vision.py --only devset has the table).
DEFAULT_PEOPLE = "centernet"
OWN_DETECTOR = "own"  # people=OWN_DETECTOR: the pose package's own person detector
_DEDUP_IOU = 0.5  # two poses whose keypoint boxes overlap this much are one person
_PEOPLE_THRESHOLD = 0.3  # person boxes of a separate detector are kept down to this score
_REFINE_PRESENCE = 0.2  # a box crop this likely to hold a person is refined once


@dataclass(frozen=True)
class PoseOptions:
    """Options of :class:`PoseDetector`.

    Attributes:
        max_people: at most this many poses, best first.
        min_confidence: minimum person-detection score and landmark presence; None: the
            model's own (its manifest's ``min_confidence``, else 0.5; MoveNet's scores
            run lower and it ships 0.25).
        region_of_interest: normalized (x, y, width, height) to search instead of the
            whole image; keypoints are still relative to the whole image.
        bgr: numpy inputs are in OpenCV's BGR order.
    """

    max_people: int = 5
    min_confidence: float | None = None
    region_of_interest: tuple[float, float, float, float] | None = None
    bgr: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.max_people, int) or self.max_people < 1:
            raise InvalidInput(f"max_people must be a positive int, not {self.max_people!r}")
        if self.min_confidence is not None and (
            not isinstance(self.min_confidence, (int, float))
            or not 0.0 <= self.min_confidence <= 1.0
        ):
            raise InvalidInput(f"min_confidence must be in [0, 1], not {self.min_confidence!r}")
        check_roi(self.region_of_interest)


@dataclass(frozen=True)
class Roi:
    """A rotated square around one person, in region pixels."""

    center: np.ndarray  # (x, y)
    size: np.ndarray  # (width, height)
    angle: float  # radians, clockwise in image coordinates (y down)

    def crop_to_region(self, side: int) -> np.ndarray:
        """2x3 affine map from crop pixels (0 .. side) to region pixels."""
        c, s = np.cos(self.angle), np.sin(self.angle)
        linear = np.array([[c, -s], [s, c]]) * (self.size / side)[None, :]
        return np.hstack([linear, (self.center - linear @ np.full(2, side / 2.0))[:, None]])


def roi_from_keypoints(center: np.ndarray, scale_point: np.ndarray, config: dict[str, Any]) -> Roi:
    """MediaPipe AlignmentPointsRectsCalculator + RectTransformationCalculator (square)."""
    delta = scale_point - center
    side = 2.0 * float(np.hypot(*delta))
    angle = np.deg2rad(config["target_angle_deg"]) - np.arctan2(-delta[1], delta[0])
    angle = float((angle + np.pi) % (2 * np.pi) - np.pi)
    return Roi(
        np.asarray(center, np.float64), np.full(2, side) * np.asarray(config["scale"]), angle
    )


def _invert_affine(matrix: np.ndarray) -> np.ndarray:
    linear = np.linalg.inv(matrix[:, :2])
    return np.hstack([linear, -(linear @ matrix[:, 2])[:, None]])


class PoseDetector(Task):
    """Finds body poses with a two-graph (detector + landmarks) pose-estimation package."""

    MANIFEST_TASKS = ("pose-estimation",)
    Options = PoseOptions
    DEFAULT_MODEL = DEFAULT_MODEL

    @classmethod
    def from_model(
        cls,
        name_or_path: Any = None,
        options: PoseOptions | None = None,
        *,
        compute_units: Any = "auto",
        people: str | None = None,
    ) -> PoseDetector:
        """Loads a pose model by zoo name or package path (None: the default).

        ``people`` is the object-detection model whose person boxes a detector + landmarks
        package poses one by one (default ``DEFAULT_PEOPLE``), or ``"own"`` for the
        package's own person detector; packages that find people themselves (MoveNet
        MultiPose) take no ``people``."""
        from sensekit.core.model import Model
        from sensekit.vision.detect import ObjectDetector

        name = cls.DEFAULT_MODEL if name_or_path is None else name_or_path
        model = Model.load(name, compute_units=compute_units)
        if people is None and model.manifest.postprocess.get("decoder") != "movenet-multipose":
            people = DEFAULT_PEOPLE
        finder = None
        if people is not None and people != OWN_DETECTOR:
            if not isinstance(people, str):
                raise InvalidInput(f"people must be a detection model name, not {people!r}")
            finder = ObjectDetector.from_model(people, compute_units=compute_units)
        return cls(model, options, people=finder)

    def __init__(
        self, model: Model, options: PoseOptions | None = None, people: Any = None
    ) -> None:
        super().__init__(model, options)
        self._people_detector = people
        post = model.manifest.postprocess
        self._multipose = post.get("decoder") == "movenet-multipose"
        if self._multipose:
            image = model.manifest.inputs.get("")
            if not isinstance(image, ImagePreprocess) or post.get("kind") != "pose":
                raise InvalidInput(f"Model {model.name!r} is not a pose model")
            self._det_spec, self._post = image, post
            self._names = list(post.get("names") or model.labels)
            if people is not None:
                raise InvalidInput(
                    f"Model {model.name!r} finds people itself; a person detector is only "
                    "for detector + landmarks pose packages"
                )
            return
        if (
            post.get("kind") != "pose"
            or not {"detector", "landmarks"} <= set(model.graphs)
            or set(model.manifest.inputs) != {"detector", "landmarks"}
        ):
            raise InvalidInput(f"Model {model.name!r} is not a detector + landmarks pose model")
        self._det_spec, self._lmk_spec = (
            model.manifest.inputs["detector"],
            model.manifest.inputs["landmarks"],
        )
        self._det, self._lmk = post["detector"], post["landmarks"]
        anchors = self._det["anchors"]
        self._anchors = nn.ssd_anchor_centers(
            tuple(anchors["input_size"]),
            anchors["strides"],
            anchors.get("anchors_per_layer", 2),
            tuple(anchors.get("anchor_offset", (0.5, 0.5))),
        )
        self._names = list(self._lmk.get("names") or model.labels)

    def _threshold(self, options: PoseOptions) -> float:
        """``min_confidence``, or the model's own when it is None."""
        if options.min_confidence is not None:
            return float(options.min_confidence)
        return float(self.model.manifest.postprocess.get("min_confidence", 0.5))

    # -- stages -------------------------------------------------------------------------
    def _preprocess(self, image: ImageInput, options: PoseOptions) -> Prepared:
        return prepare(image, self._det_spec, options.region_of_interest, options.bgr)

    def _forward(self, tensor: np.ndarray, graph: str) -> dict[str, np.ndarray]:
        spec = self._det_spec if graph == "detector" else self._lmk_spec
        return self.model.predict({spec.input: tensor}, graph=graph)

    def _people(
        self, outputs: dict[str, np.ndarray], frame: Prepared, options: PoseOptions
    ) -> list[tuple[np.ndarray, float]]:
        """Detector outputs -> [(alignment keypoints [K, 2] in region pixels, score)]."""
        cfg, names = self._det, self._det["outputs"]
        raw = outputs[names["boxes"]].reshape(len(self._anchors), -1).astype(np.float64)
        logits = outputs[names["scores"]].reshape(-1).astype(np.float64)
        clip = cfg.get("score_clipping", 100.0)
        scores = nn.sigmoid(np.clip(logits, -clip, clip))
        keep = np.flatnonzero(scores >= max(self._threshold(options), cfg.get("min_score", 0.0)))
        if keep.size == 0:
            return []
        size = np.asarray(cfg["coordinate_scale"], np.float64)  # raw units per input size
        anchors = self._anchors[keep] * size  # anchor centres in input pixels
        raw = raw[keep]
        centers = raw[:, :2] + anchors
        boxes = np.concatenate([centers - raw[:, 2:4] / 2, centers + raw[:, 2:4] / 2], axis=1)
        points = (
            raw[:, 4 : 4 + 2 * cfg["num_keypoints"]].reshape(len(keep), -1, 2) + anchors[:, None]
        )
        px, py = frame.transform.to_source(points[..., 0], points[..., 1])  # -> region pixels
        points = np.stack([px, py], axis=-1)
        people = []
        for members, weights in nn.weighted_nms(boxes, scores[keep], cfg["iou_threshold"]):
            people.append(
                (np.tensordot(weights, points[members], 1), float(scores[keep][members[0]]))
            )
        return people[: options.max_people]

    def _roi(self, alignment: np.ndarray) -> Roi:
        """The landmark crop of one person from the detector's alignment keypoints."""
        roi_cfg = self._det["roi"]
        return roi_from_keypoints(
            alignment[roi_cfg["center_keypoint"]], alignment[roi_cfg["scale_keypoint"]], roi_cfg
        )

    def _box_rois(self, frame: Prepared, options: PoseOptions) -> list[Roi]:
        """Landmark crops from the person detector's boxes: upright squares around each
        box, enlarged as MediaPipe enlarges a tracked person's landmark box."""
        people = self._people_detector.detect(
            frame.pixels,
            allow=("person",),
            score_threshold=_PEOPLE_THRESHOLD,
            max_results=options.max_people,
        )
        scale = float(np.max(self._det["roi"]["scale"]))
        rois = []
        for person in people:
            x0, y0, x1, y1 = person.pixels
            side = max(x1 - x0, y1 - y0) * scale
            center = np.array([(x0 + x1) / 2.0, (y0 + y1) / 2.0])
            rois.append(Roi(center, np.full(2, side), 0.0))
        return rois

    def _landmarks(
        self, frame: Prepared, roi: Roi, refine: bool = False
    ) -> tuple[np.ndarray, float]:
        """One person: [N, 5] (x, y normalized to the image, z, confidence, presence), presence.

        ``refine``: the crop came from a person box, not from the detector's alignment
        points; the model's own alignment points (the two auxiliary landmarks after the
        named ones, as MediaPipe's tracking uses them) give a better crop, run once more.
        """
        side = self._lmk_spec.size[0]
        to_region = roi.crop_to_region(side)
        crop = kernels.warp_affine(frame.pixels, _invert_affine(to_region), side, side)
        tensor = normalize(crop, self._lmk_spec)
        outputs = self._forward(tensor, "landmarks")
        names = self._lmk["outputs"]
        presence = float(np.ravel(outputs[names["presence"]])[0])
        if self._lmk.get("presence_activation", "none") == "sigmoid":
            presence = float(nn.sigmoid(np.float64(presence)))
        every = outputs[names["landmarks"]].reshape(-1, self._lmk["values_per_landmark"])
        count = self._lmk["num_landmarks"]
        if refine and len(every) >= count + 2 and presence >= _REFINE_PRESENCE:
            aux = every[count : count + 2, :2].astype(np.float64)
            aux = aux @ to_region[:, :2].T + to_region[:, 2]  # region pixels
            return self._landmarks(frame, self._roi(aux))
        values = every[:count].astype(np.float64)
        xy = values[:, :2] @ to_region[:, :2].T + to_region[:, 2]
        x, y = frame.region_to_image(xy[:, 0], xy[:, 1])
        z = values[:, 2] * roi.size[0] / side / frame.image_size[0]
        probabilities = (
            nn.sigmoid(values[:, 3:5]) if values.shape[1] >= 5 else np.ones((len(values), 2))
        )
        return np.column_stack([x, y, z, probabilities]), presence

    def _postprocess(
        self, frame: Prepared, rois: list[Roi], options: PoseOptions
    ) -> list[BodyPose]:
        poses, boxes = [], []
        for roi in rois:
            points, presence = self._landmarks(frame, roi, refine=self._people_detector is not None)
            if presence < self._threshold(options):
                continue
            keypoints = tuple(
                Keypoint(name, float(x), float(y), float(c), float(z))
                for name, (x, y, z, c, _) in zip(self._names, points)
            )
            lo = np.clip(points[:, :2].min(axis=0), 0.0, 1.0)
            hi = np.clip(points[:, :2].max(axis=0), 0.0, 1.0)
            poses.append(BodyPose(keypoints, Box(*map(float, (*lo, *hi))), presence))
            boxes.append([*lo, *hi])
        if len(poses) > 1:  # two detections of one person give the same landmarks
            keep = nn.nms(np.array(boxes), np.array([p.score for p in poses]), _DEDUP_IOU)
            poses = [poses[i] for i in keep]
        return poses

    def _decode_multipose(
        self, outputs: dict[str, np.ndarray], frame: Prepared, options: PoseOptions
    ) -> list[BodyPose]:
        """MoveNet MultiPose rows -> poses: per person 17 x (y, x, score), then
        (ymin, xmin, ymax, xmax, score), all normalized to the input tensor."""
        width, height = self._det_spec.size
        count = len(self._names)
        rows = outputs[self._post["output"]].reshape(-1, 3 * count + 5).astype(np.float64)
        rows = rows[np.isfinite(rows).all(axis=1) & (rows[:, -1] >= self._threshold(options))]
        poses = []
        for row in rows[np.argsort(-rows[:, -1], kind="stable")][: options.max_people]:
            points = row[: 3 * count].reshape(count, 3)
            x, y = frame.to_image(points[:, 1] * width, points[:, 0] * height)
            keypoints = tuple(
                Keypoint(name, float(px), float(py), float(c), 0.0)
                for name, px, py, c in zip(self._names, x, y, points[:, 2])
            )
            ymin, xmin, ymax, xmax = row[3 * count : 3 * count + 4]
            bx, by = frame.to_image(np.array([xmin, xmax]) * width, np.array([ymin, ymax]) * height)
            bx, by = np.clip(bx, 0.0, 1.0), np.clip(by, 0.0, 1.0)
            box = Box(float(bx[0]), float(by[0]), float(bx[1]), float(by[1]))
            poses.append(BodyPose(keypoints, box, float(row[-1])))
        return poses

    # -- public -------------------------------------------------------------------------
    def detect(self, image: ImageInput, **overrides: Any) -> list[BodyPose]:
        """Body poses in one image, best first; keyword overrides replace options.

        Raises:
            InvalidInput: the image cannot be read or an option is invalid.
        """
        options = self.resolve(overrides)
        frame = self._preprocess(image, options)
        if self._multipose:
            outputs = self.model.predict({self._det_spec.input: frame.tensor})
            return self._decode_multipose(outputs, frame, options)
        if self._people_detector is not None:
            return self._postprocess(frame, self._box_rois(frame, options), options)
        people = self._people(self._forward(frame.tensor, "detector"), frame, options)
        return self._postprocess(frame, [self._roi(a) for a, _ in people], options)

    def detect_batch(self, images: list[ImageInput], **overrides: Any) -> list[list[BodyPose]]:
        """Body poses of several images (one list per image)."""
        if not isinstance(images, (list, tuple)):
            raise InvalidInput("detect_batch takes a list of images")
        return [self.detect(image, **overrides) for image in images]

    predict_batch = detect_batch
    __call__ = detect


def pose(
    image: ImageInput,
    *,
    max_people: int = 5,
    min_confidence: float | None = None,
    model: str = DEFAULT_MODEL,
    people: str | None = None,
    **options: Any,
) -> list[BodyPose]:
    """Finds body poses with a shared default pose detector.

    Args:
        image: a path, bytes, PIL image or numpy array.
        max_people: at most this many people.
        min_confidence: minimum detection score and landmark presence (None: the model's).
        model: zoo name or package path.
        people: the object-detection model whose person boxes are posed one by one
            (detector + landmarks pose models; default ``DEFAULT_PEOPLE``), or ``"own"``
            for the pose model's own person detector.
        **options: other :class:`PoseOptions` fields (region_of_interest, bgr).

    Returns:
        One :class:`BodyPose` per person, with named keypoints normalized to the image.
    """
    detector = cached_default(
        ("pose", str(model), str(people)), lambda: PoseDetector.from_model(model, people=people)
    )
    return detector.detect(image, max_people=max_people, min_confidence=min_confidence, **options)
