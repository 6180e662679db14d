"""Sound: identify sound events, classify clips, detect speech, train custom classifiers.

>>> from sensekit import sound
>>> sound.identify("doorbell.wav")          # [SoundEvent(label, score, start, end)]
>>> sound.classify("doorbell.wav")          # [Category(label, score, index)]
>>> sound.speech_activity("meeting.wav")    # [TimeRange(start, end)]
>>> for event in sound.Analyzer().stream(chunks, sample_rate=48000): ...
"""

from sensekit.sound.identify import SoundClassifier, SoundOptions, classify, identify
from sensekit.sound.stream import Analyzer, StreamResampler
from sensekit.sound.train import train_classifier
from sensekit.sound.vad import SpeechActivity, speech_activity

__all__ = [
    "Analyzer",
    "SoundClassifier",
    "SoundOptions",
    "SpeechActivity",
    "StreamResampler",
    "classify",
    "identify",
    "speech_activity",
    "train_classifier",
]
