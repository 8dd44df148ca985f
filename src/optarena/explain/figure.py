"""The explain figures (matplotlib, Agg): the first row shows the items with their true class,
each further row one model's heat maps with its predicted class (red when wrong)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from optarena.explain.inputs import Subject

HEAT = "inferno"
WRONG, RIGHT = "#c0392b", "#222222"


@dataclass
class Row:
    label: str            # e.g. "adam, lr=0.001, seed=0"
    subject: Subject      # the items as this model sees and predicts them
    heat: np.ndarray      # (N, ...) attribution heat maps


def _scaled(heat: np.ndarray) -> np.ndarray:
    top = float(np.nanmax(heat)) if heat.size else 0.0
    return heat / top if top > 0 else heat


def _draw_input(ax: Axes, s: Subject, i: int) -> None:
    shown = s.display[i]
    if s.kind == "image":
        ax.imshow(shown, cmap="gray" if shown.ndim == 2 else None, vmin=0, vmax=1,
                  interpolation="nearest")
        if s.masks is not None:
            ax.contour(s.masks[i, 0], levels=[0.5], colors="#2ecc71", linewidths=1)
    elif s.kind == "spectrogram":
        ax.imshow(shown[0] if shown.ndim == 3 else shown, origin="lower", aspect="auto",
                  cmap="magma", extent=(0, s.seconds or shown.shape[-1], 0, shown.shape[-2]))
    else:
        t = np.linspace(0, s.seconds or len(shown), len(shown))
        ax.plot(t, shown, color="#555555", linewidth=0.4)
        ax.set_xlim(t[0], t[-1])


def _draw_heat(ax: Axes, s: Subject, i: int, heat: np.ndarray) -> None:
    h = _scaled(heat[i])
    if s.kind == "image":
        shown = s.display[i]
        if shown.ndim == 2:  # grey: the heat map, the input's strokes (or mask) outlined
            ax.imshow(h, cmap=HEAT, vmin=0, vmax=1, interpolation="nearest")
            if s.masks is None:
                ax.contour(shown, levels=[0.5 * float(shown.max() or 1)], colors="#7fdbff",
                           linewidths=0.6)
        else:  # colour: the heat map over a faded grey copy of the image
            ax.imshow(shown.mean(-1), cmap="gray", vmin=0, vmax=1)
            ax.imshow(h, cmap=HEAT, alpha=0.6, vmin=0, vmax=1)
        if s.masks is not None:
            ax.contour(s.masks[i, 1], levels=[0.5], colors="#7fdbff", linewidths=1)
    elif s.kind == "spectrogram":
        ax.imshow(h, origin="lower", aspect="auto", cmap=HEAT, vmin=0, vmax=1,
                  extent=(0, s.seconds or h.shape[-1], 0, h.shape[-2]))
    else:  # the attribution over time, filled, in front of the waveform (grey)
        wave = s.display[i]
        end = s.seconds or len(wave)
        top = float(np.abs(wave).max()) or 1.0
        ax.plot(np.linspace(0, end, len(wave)), 0.5 + 0.45 * wave / top, color="#bbbbbb",
                linewidth=0.3)
        centres = (np.arange(len(h)) + 0.5) * end / len(h)
        ax.fill_between(centres, 0, h, step="mid", color="#e67e22", alpha=0.85, zorder=3)
        ax.set_xlim(0, end)
        ax.set_ylim(0, 1.05)


def figure(rows: list[Row], title: str) -> Figure:
    """Row 0: the items (true class); then one row of heat maps per model (predicted class)."""
    first = rows[0].subject
    n = len(first.indices)
    wide = first.kind != "image"
    fig, axes = plt.subplots(len(rows) + 1, n, squeeze=False, layout="constrained",
                             figsize=((2.6 if wide else 1.7) * n + 1.6,
                                      (1.5 if wide else 2.0) * (len(rows) + 1) + 0.6))
    for i in range(n):
        ax = axes[0, i]
        _draw_input(ax, first, i)
        ax.set_title(f"true: {first.titles[i][0]}", fontsize=8)
        for r, row in enumerate(rows, start=1):
            ax = axes[r, i]
            _draw_heat(ax, row.subject, i, row.heat)
            ok = row.subject.correct[i]
            ax.set_title(f"pred: {row.subject.titles[i][1]}", fontsize=8,
                         color=RIGHT if ok else WRONG)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    if first.kind != "image":  # the time axis once, bottom left
        ax = axes[-1, 0]
        if first.seconds:
            ax.set_xticks([0, first.seconds])
        ax.tick_params(labelsize=6)
        ax.set_xlabel("time (s)" + (", mel bins upward" if first.kind == "spectrogram" else ""),
                      fontsize=7)
    axes[0, 0].set_ylabel("input", fontsize=8)
    for r, row in enumerate(rows, start=1):
        axes[r, 0].set_ylabel(row.label.replace(", ", "\n", 1), fontsize=8)
    fig.suptitle(title, fontsize=10)
    return fig


def save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
