"""What every task shares: the ``Task`` base class, ``LabelFilter``, per-call option
overrides, the shared default instances of the module-level verbs, and the task table."""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np

from sensekit.core.errors import InvalidInput

if TYPE_CHECKING:
    from sensekit.core.model import ComputeUnits, Model

T = TypeVar("T")
_DEFAULTS: dict[Hashable, Any] = {}
_DEFAULTS_LOCK = threading.Lock()


def cached_default(key: Hashable, factory: Callable[[], T]) -> T:
    """One shared instance per key (the module-level verbs use this), built once."""
    instance = _DEFAULTS.get(key)
    if instance is None:
        with _DEFAULTS_LOCK:
            instance = _DEFAULTS.get(key)
            if instance is None:
                instance = factory()
                _DEFAULTS[key] = instance
    return instance


def clear_defaults() -> None:
    with _DEFAULTS_LOCK:
        _DEFAULTS.clear()


def with_overrides(options: T, overrides: dict[str, Any]) -> T:
    """A copy of a frozen options dataclass with some fields replaced (validated again)."""
    if not overrides:
        return options
    names = {f.name for f in dataclasses.fields(options)}  # type: ignore[arg-type]
    unknown = set(overrides) - names
    if unknown:
        raise InvalidInput(f"Unknown option(s) {sorted(unknown)}; valid: {sorted(names)}")
    try:
        return dataclasses.replace(options, **overrides)  # type: ignore[type-var]
    except ValueError as e:
        raise InvalidInput(str(e)) from e


class LabelFilter:
    """Which labels a task may return: only ``allow`` (when given) and never ``deny``,
    compared case-insensitively. Built from an options dataclass's ``allow``/``deny``.

    Raises:
        InvalidInput: a list that is not of strings, or a label both allowed and denied.
    """

    __slots__ = ("allowed", "denied")

    def __init__(self, allow: Any = None, deny: Any = None) -> None:
        self.allowed = _label_set(allow, "allow")
        self.denied = _label_set(deny, "deny") or frozenset()
        if self.allowed is not None and self.allowed & self.denied:
            raise InvalidInput(
                f"labels both allowed and denied: {sorted(self.allowed & self.denied)}"
            )

    @classmethod
    def of(cls, options: Any) -> LabelFilter:
        return cls(getattr(options, "allow", None), getattr(options, "deny", None))

    def keeps(self, label: str) -> bool:
        lower = label.lower()
        return (self.allowed is None or lower in self.allowed) and lower not in self.denied

    def mask(self, lower_labels: np.ndarray) -> np.ndarray:
        """Boolean mask over an array of lower-case labels: True where a label is kept."""
        keep = np.ones(len(lower_labels), bool)
        if self.allowed is not None:
            keep &= np.isin(lower_labels, list(self.allowed))
        if self.denied:
            keep &= ~np.isin(lower_labels, list(self.denied))
        return keep


def label_option(labels: Any) -> tuple[str, ...] | None:
    """An ``allow``/``deny`` argument of a module-level verb as the options field wants it:
    a hashable tuple (a single string is one label), None unchanged. Checked by
    ``LabelFilter`` when the options are made."""
    if labels is None:
        return None
    if isinstance(labels, str):
        return (labels,)
    try:
        return tuple(labels)
    except TypeError:
        raise InvalidInput(f"labels must be a list of label strings, not {labels!r}") from None


def _label_set(value: Any, name: str) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    try:
        items = list(value)
    except TypeError:
        raise InvalidInput(f"{name} must be a list of label strings, not {value!r}") from None
    if not all(isinstance(v, str) for v in items):
        raise InvalidInput(f"{name} must be a list of label strings")
    return frozenset(v.lower() for v in items)


class Task:
    """What every task class shares (MediaPipe's BaseTaskApi, Hugging Face's Pipeline):
    made from a model package whose task it runs, frozen options with per-call overrides,
    ``from_model`` by zoo name or path, and ``close`` / the context manager.

    A subclass names ``MANIFEST_TASKS`` (the manifest tasks it runs), ``Options`` (its
    options dataclass, or None) and ``DEFAULT_MODEL``, and calls ``super().__init__``.
    """

    MANIFEST_TASKS: ClassVar[tuple[str, ...]] = ()
    Options: ClassVar[type | None] = None
    DEFAULT_MODEL: ClassVar[str] = ""

    def __init__(self, model: Model, options: Any = None) -> None:
        check_task(model, type(self))
        if (
            options is not None
            and self.Options is not None
            and not isinstance(options, self.Options)
        ):
            raise InvalidInput(
                f"{type(self).__name__} takes {self.Options.__name__}, not {type(options).__name__}"
            )
        self.model = model
        self.options = options if options is not None or self.Options is None else self.Options()

    @classmethod
    def from_model(
        cls: type[TaskT],
        name_or_path: str | os.PathLike[str] | None = None,
        options: Any = None,
        *,
        compute_units: ComputeUnits = "auto",
    ) -> TaskT:
        """Loads (building if needed) a model by zoo name or package path and makes the
        task (``name_or_path`` None: the task's default model)."""
        from sensekit.core.model import Model

        name = cls.DEFAULT_MODEL if name_or_path is None else name_or_path
        return cls(Model.load(name, compute_units=compute_units), options)

    def resolve(self, overrides: dict[str, Any]) -> Any:
        """This task's options with ``overrides`` applied for one call (validated)."""
        return with_overrides(self.options, overrides)

    def close(self) -> None:
        """Releases what the task holds beyond the model (subclasses extend it)."""

    def __enter__(self: TaskT) -> TaskT:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


TaskT = TypeVar("TaskT", bound=Task)


def check_task(model: Model, task_class: type[Task]) -> None:
    """Refuses a package made for another task: an ``object-detection`` package handed to
    the image classifier fails here, by its manifest's task. A task name sensekit does not
    list (``custom``, a converted model's own) is let through to the class's block checks.

    Raises:
        InvalidInput: the package is for another sensekit task.
    """
    task = model.manifest.task
    if task in task_class.MANIFEST_TASKS:
        return
    runners = [spec for spec in TASKS.values() if task in spec.manifest_tasks]
    if runners:
        names = ", ".join(f"{s.domain}.{s.name}" for s in runners)
        raise InvalidInput(
            f"Model {model.name!r} is a {task!r} package; {task_class.__name__} runs "
            f"{' / '.join(task_class.MANIFEST_TASKS)} packages (use {names})"
        )


# -- the task table ---------------------------------------------------------------------
# The one list of what sensekit can do. The CLI, ``sensekit batch`` and ``sensekit serve``
# read it, so a task listed here appears everywhere. Classes are named by import path and
# resolved on first use: core never imports a domain at import time.


@dataclass(frozen=True)
class TaskSpec:
    """One task: what it takes, which class runs it, its options and default model.

    Attributes:
        name: the task's name in the CLI, batch runs and the HTTP API ("classify").
        domain: "vision", "language", "speech" or "sound".
        inputs: what one call takes, in order: "image", "audio", "text", "question" and
            "document".
        runner: "module:Class" of the task class (with ``from_model(name, options)``).
        method: the method of that class that runs the task on the inputs.
        options: "module:Class" of the options dataclass, or "" when there are none.
        default_model: the zoo model used when none is named.
        summary: one line for help texts.
        manifest_tasks: the ``task`` of the model packages it runs ("image-classification").
    """

    name: str
    domain: str
    inputs: tuple[str, ...]
    runner: str
    method: str
    options: str
    default_model: str
    summary: str
    manifest_tasks: tuple[str, ...] = ()

    def task_class(self) -> type:
        return _resolve(self.runner)

    def options_class(self) -> type | None:
        return _resolve(self.options) if self.options else None

    def option_fields(self) -> dict[str, dataclasses.Field]:
        """The options a caller may set (public dataclass fields)."""
        cls = self.options_class()
        if cls is None:
            return {}
        return {f.name: f for f in dataclasses.fields(cls) if not f.name.startswith("_")}

    def make_options(self, **options: Any) -> Any:
        """The validated options dataclass (None for a task without options), built
        without loading a model (``sensekit batch`` checks options before any work).

        Raises:
            InvalidInput: an unknown or invalid option.
        """
        options_cls = self.options_class()
        if options_cls is None:
            if options:
                raise InvalidInput(f"{self.name} takes no options, got {sorted(options)}")
            return None
        unknown = set(options) - set(self.option_fields())
        if unknown:
            raise InvalidInput(
                f"Unknown option(s) {sorted(unknown)} for {self.name}; valid: "
                f"{sorted(self.option_fields())}"
            )
        try:
            return options_cls(**options)
        except (TypeError, ValueError) as e:
            if isinstance(e, InvalidInput):
                raise
            raise InvalidInput(f"{self.name}: {e}") from e

    def create(self, model: str | None = None, **options: Any) -> Any:
        """The task object for ``model`` (default: the zoo default) with ``options``.

        Raises:
            InvalidInput: an unknown or invalid option.
        """
        validated = self.make_options(**options)
        name = model or self.default_model
        if validated is None or not options:  # no options: the task's (or package's) own
            return self.task_class().from_model(name)
        try:
            return self.task_class().from_model(name, validated)
        except (TypeError, ValueError) as e:
            if isinstance(e, InvalidInput):
                raise
            raise InvalidInput(f"{self.name}: {e}") from e

    def run(self, task: Any, *inputs: Any, **overrides: Any) -> Any:
        """Runs ``task`` (from :meth:`create`) on one set of inputs; ``overrides`` are
        option fields for this call only (the shared task object is not changed)."""
        if len(inputs) != len(self.inputs):
            raise InvalidInput(
                f"{self.name} takes {len(self.inputs)} input(s) "
                f"({', '.join(self.inputs)}), got {len(inputs)}"
            )
        unknown = set(overrides) - set(self.option_fields())
        if unknown:
            raise InvalidInput(
                f"Unknown option(s) {sorted(unknown)} for {self.name}; valid: "
                f"{sorted(self.option_fields())}"
            )
        return getattr(task, self.method)(*inputs, **overrides)


def _resolve(path: str) -> Any:
    import importlib

    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def to_jsonable(result: Any) -> Any:
    """A task's result as JSON-ready data: ``to_dict()`` of each result object, lists of
    them as lists, arrays (embeddings) as nested lists, None as None."""
    if result is None or isinstance(result, (str, int, float, bool)):
        return result
    if hasattr(result, "to_dict"):
        return result.to_dict()
    if hasattr(result, "tolist"):
        return result.tolist()
    if isinstance(result, dict):
        return {str(k): to_jsonable(v) for k, v in result.items()}
    if isinstance(result, (list, tuple)):
        return [to_jsonable(r) for r in result]
    raise TypeError(f"no JSON form for {type(result).__name__}")


TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            "classify",
            "vision",
            ("image",),
            "sensekit.vision.classify:ImageClassifier",
            "classify",
            "sensekit.vision.classify:ClassifierOptions",
            "efficientnet-lite0",
            "label what an image shows",
            manifest_tasks=("image-classification",),
        ),
        TaskSpec(
            "detect",
            "vision",
            ("image",),
            "sensekit.vision.detect:ObjectDetector",
            "detect",
            "sensekit.vision.detect:DetectorOptions",
            "nanodet-m+centernet",
            "find objects with boxes",
            manifest_tasks=("object-detection",),
        ),
        TaskSpec(
            "pose",
            "vision",
            ("image",),
            "sensekit.vision.pose:PoseDetector",
            "detect",
            "sensekit.vision.pose:PoseOptions",
            "blazepose",
            "find body keypoints of people",
            manifest_tasks=("pose-estimation",),
        ),
        TaskSpec(
            "dice",
            "vision",
            ("image",),
            "sensekit.vision.dice:DiceReader",
            "read",
            "sensekit.vision.dice:DiceOptions",
            "dice",
            "read dice left to right (Core ML's dice sample)",
            manifest_tasks=("object-detection",),
        ),
        TaskSpec(
            "answer",
            "language",
            ("question", "document"),
            "sensekit.language.qa:QuestionAnswerer",
            "answer",
            "sensekit.language.qa:AnswerOptions",
            "minilm-qa",
            "answer a question from a document",
            manifest_tasks=("question-answering",),
        ),
        TaskSpec(
            "embed",
            "language",
            ("text",),
            "sensekit.language.embed:TextEmbedder",
            "embed",
            "sensekit.language.embed:EmbedOptions",
            "minilm-embed",
            "sentence embeddings of a text",
            manifest_tasks=("text-embedding",),
        ),
        TaskSpec(
            "transcribe",
            "speech",
            ("audio",),
            "sensekit.speech.whisper.transcribe:Transcriber",
            "transcribe",
            "sensekit.speech.whisper.transcribe:TranscribeOptions",
            "whisper-tiny.en",
            "speech to text with timestamps",
            manifest_tasks=("speech-recognition",),
        ),
        TaskSpec(
            "identify",
            "sound",
            ("audio",),
            "sensekit.sound.identify:SoundClassifier",
            "identify",
            "sensekit.sound.identify:SoundOptions",
            "yamnet",
            "sound events over time",
            manifest_tasks=("sound-classification",),
        ),
        TaskSpec(
            "classify-sound",
            "sound",
            ("audio",),
            "sensekit.sound.identify:SoundClassifier",
            "classify",
            "sensekit.sound.identify:SoundOptions",
            "yamnet",
            "label what a clip sounds like",
            manifest_tasks=("sound-classification",),
        ),
        TaskSpec(
            "speech-activity",
            "sound",
            ("audio",),
            "sensekit.sound.vad:SpeechActivity",
            "detect",
            "sensekit.sound.vad:VadOptions",
            "silero-vad",
            "time ranges that hold speech",
            manifest_tasks=("speech-activity",),
        ),
    )
}


def task(name: str) -> TaskSpec:
    """The table entry of ``name``; an unknown name lists the known ones."""
    if name not in TASKS:
        raise InvalidInput(f"Unknown task {name!r}; tasks: {', '.join(TASKS)}")
    return TASKS[name]
