"""A tiny ESC-50 checkout in the official layout: audio/*.wav (44.1 kHz mono) + meta/esc50.csv.

Six classes (four of them in ESC-10), two clips per class and fold (`clips_per_fold`: up to
260, ten source files per fold with takes A, B, ...), 0.5 s each. A class is a tone of its own
pitch with noise, starting at a random time, so classes differ in content.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import soundfile

RATE = 44100
SECONDS = 0.5
# (ESC-50 target, category, in ESC-10)
CLASSES = [(0, "dog", True), (1, "rooster", True), (5, "cat", False), (10, "rain", True),
           (38, "clock_tick", True), (44, "engine", False)]
CLIPS_PER_FOLD = 2


def write_esc50(root: Path, seed: int = 0, clips_per_fold: int = CLIPS_PER_FOLD) -> Path:
    rng = np.random.default_rng(seed)
    (root / "audio").mkdir(parents=True)
    (root / "meta").mkdir()
    rows = []
    t = np.arange(int(RATE * SECONDS)) / RATE
    for k, (target, category, esc10) in enumerate(CLASSES):
        freq = 400.0 * 1.6**k
        for fold in range(1, 6):
            for take in range(clips_per_fold):
                src, letter = 1000 * target + 10 * fold + take % 10, chr(65 + take // 10)
                name = f"{fold}-{src}-{letter}-{target}.wav"
                tone = np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi))
                tone *= t >= rng.uniform(0, SECONDS / 3)  # onset at a random time
                wave = rng.uniform(0.2, 0.6) * tone + 0.05 * rng.standard_normal(len(t))
                soundfile.write(root / "audio" / name, wave.astype(np.float32), RATE,
                                subtype="PCM_16")
                rows.append({"filename": name, "fold": fold, "target": target,
                             "category": category, "esc10": esc10, "src_file": src, "take": letter})
    pd.DataFrame(rows).to_csv(root / "meta" / "esc50.csv", index=False)
    return root
