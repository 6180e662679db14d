"""Sound: identify sound events, classify clips, detect speech, train custom classifiers.

>>> from sensekit import sound
>>> sound.identify("doorbell.wav")          # [SoundEvent(label, score, start, end)]
>>> sound.classify("doorbell.wav")          # [Category(label, score, index)]
>>> sound.speech_activity("meeting.wav")    # [TimeRange(start, end)]
>>> yamnet = sound.SoundClassifier.from_model("yamnet")
>>> for event in sound.Analyzer(yamnet).stream(chunks, sample_rate=48000): ...
"""

from sensekit.sound.identify import SoundClassifier, SoundOptions, classify, identify
from sensekit.sound.resample import StreamResampler
from sensekit.sound.stream import Analyzer
from sensekit.sound.train import train_classifier
from sensekit.sound.vad import SpeechActivity, VadOptions, speech_activity

__all__ = [
    "Analyzer",
    "SoundClassifier",
    "SoundOptions",
    "SpeechActivity",
    "StreamResampler",
    "VadOptions",
    "classify",
    "identify",
    "speech_activity",
    "train_classifier",
]
