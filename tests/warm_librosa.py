"""Compile librosa's numba functions once in a fresh environment (``make``'s install runs this on the
second core while pip installs the test extras): the reference tests compare the front end with
``librosa.load`` and ``librosa.feature.melspectrogram``, and the first of them would otherwise spend
about 30 s compiling what numba then caches beside librosa. The package itself never imports librosa
to decode. Nothing here is checked: a failure only leaves the compiling to the tests."""
import os
import sys
import tempfile

import numpy as np


def main() -> int:
    try:
        import librosa
        import soundfile
    except ImportError as exc:  # not installed yet or any more: the tests compile what they need
        print(f"tests/warm_librosa.py: skipped ({exc})", file=sys.stderr)
        return 0
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "warm.wav")
        t = np.arange(22050 * 2) / 22050
        soundfile.write(path, 0.1 * np.sin(2 * np.pi * 440 * t), 22050)
        y, _ = librosa.load(path, sr=12000)  # as tests/audio/test_audio.py's reference_melgram
        librosa.amplitude_to_db(librosa.feature.melspectrogram(y=y, sr=12000, hop_length=256, n_fft=512, n_mels=96))
    return 0


if __name__ == "__main__":
    sys.exit(main())
