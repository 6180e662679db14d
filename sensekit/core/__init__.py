"""The core inference layer: models, packages, the zoo registry, results and errors."""

from sensekit.core.errors import (
    ConversionError,
    InvalidInput,
    ModelIntegrityError,
    ModelNotFound,
    RuntimeFailure,
    SensekitError,
    SourceUnavailable,
)
from sensekit.core.model import Configuration, Description, Model, RunReport, TensorSpec
from sensekit.core.package import Manifest, ModelPackage, write_package
from sensekit.core.types import (
    Answer,
    BodyPose,
    Box,
    Category,
    Detection,
    Keypoint,
    Segment,
    SoundEvent,
    TimeRange,
    Transcript,
    Word,
)

__all__ = [
    "Answer",
    "BodyPose",
    "Box",
    "Category",
    "Configuration",
    "ConversionError",
    "Description",
    "Detection",
    "InvalidInput",
    "Keypoint",
    "Manifest",
    "Model",
    "ModelIntegrityError",
    "ModelNotFound",
    "ModelPackage",
    "RunReport",
    "RuntimeFailure",
    "Segment",
    "SensekitError",
    "SoundEvent",
    "SourceUnavailable",
    "TensorSpec",
    "TimeRange",
    "Transcript",
    "Word",
    "write_package",
]
