"""Vision: classify images, detect objects, find body poses."""

from sensekit.vision.classify import ClassifierOptions, ImageClassifier, classify
from sensekit.vision.image_input import load_image

__all__ = ["ClassifierOptions", "ImageClassifier", "classify", "load_image"]
