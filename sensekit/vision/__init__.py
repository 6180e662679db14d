"""Vision: classify images, detect objects, find body poses, track them in video, read
dice, and train detectors on your own data."""

from sensekit.vision import classify as classify_module
from sensekit.vision import detect as detect_module
from sensekit.vision import pose as pose_module
from sensekit.vision import video
from sensekit.vision.classify import ClassifierOptions, ImageClassifier, classify
from sensekit.vision.detect import DetectorOptions, ObjectDetector, detect
from sensekit.vision.detector_training import train_detector
from sensekit.vision.dice import DiceOptions, DiceReader, DiceReading, DiceRoll, DiceState, dice
from sensekit.vision.draw import draw
from sensekit.vision.image_input import load_image
from sensekit.vision.pose import PoseDetector, PoseOptions, pose
from sensekit.vision.train import train_classifier
from sensekit.vision.video import IouTracker, VideoFrame, track

__all__ = [
    "ClassifierOptions",
    "DetectorOptions",
    "DiceOptions",
    "DiceReader",
    "DiceReading",
    "DiceRoll",
    "DiceState",
    "ImageClassifier",
    "IouTracker",
    "ObjectDetector",
    "PoseDetector",
    "PoseOptions",
    "VideoFrame",
    "classify",
    "classify_module",
    "detect",
    "detect_module",
    "dice",
    "draw",
    "load_image",
    "pose",
    "pose_module",
    "track",
    "train_classifier",
    "train_detector",
    "video",
]
