"""ESC-50 and its 10-class subset ESC-10 (Piczak, 2015): 5 s environmental sound clips.

Protocol: the dataset's own 5 folds (clips cut from one source recording share a fold).
`test_fold` is held out for test, `val_fold` (by default the fold before it: 4 for 5, 5 for 1)
picks hyperparameters, the other three folds train. Sweep `data.test_fold=1,2,3,4,5` for the
full cross-validation.
"""

import logging
from pathlib import Path

import pandas as pd
import torch

from optarena.data.in_memory import BatchTransform, InMemoryDataModule
from optarena.data.waveform_augment import WaveformAugment
from optarena.data.waveform_cache import cache_key, load_or_decode
from optarena.errors import OptArenaError

log = logging.getLogger(__name__)
URL = "https://github.com/karoldvl/ESC-50/archive/master.zip"
ARCHIVE_DIR = "ESC-50-master"  # the folder the official archive extracts to
META_COLUMNS = {"filename", "fold", "target", "category", "esc10"}
FOLDS = (1, 2, 3, 4, 5)
SUBSETS = ("esc10", "esc50")


class ESC50DataModule(InMemoryDataModule):
    """ESC-50 (`subset=esc50`: 2,000 clips, 50 classes) or ESC-10 (`esc10`: 400 clips, 10).

    Clips are mono waveforms of `clip_seconds * sample_rate` samples (input shape (T,)),
    decoded once and cached on disk under `cache_dir` (null: decode every run). Class indices
    are remapped to 0..C-1 in the order of the dataset's targets; `class_names` keeps names.
    """

    def __init__(
        self,
        root: str,
        subset: str = "esc10",
        download: bool = False,
        test_fold: int = 5,
        val_fold: int | None = None,
        sample_rate: int = 16000,
        clip_seconds: float = 5.0,
        cache_dir: str | None = None,
        augment: bool = False,
        gain_db: float = 6.0,
        max_shift_seconds: float = 0.5,
        target_accuracy: float = 0.8,
        batch_size: int = 64,
    ) -> None:
        super().__init__(batch_size)
        if subset not in SUBSETS:
            raise OptArenaError(f"data.subset must be one of {', '.join(SUBSETS)}, got {subset!r}")
        val_fold = (test_fold - 2) % 5 + 1 if val_fold is None else val_fold
        for name, fold in (("test_fold", test_fold), ("val_fold", val_fold)):
            if fold not in FOLDS:
                raise OptArenaError(f"data.{name} must be one of the folds 1..5, got {fold}")
        if val_fold == test_fold:
            raise OptArenaError(f"data.val_fold={val_fold} equals data.test_fold: pick another "
                                "fold for validation (null: the fold before the test fold)")
        if sample_rate < 1 or clip_seconds <= 0:
            raise OptArenaError(f"data.sample_rate ({sample_rate}) and data.clip_seconds "
                                f"({clip_seconds}) must be positive")
        self.root, self.subset, self.download = Path(root), subset, download
        self.test_fold, self.val_fold = test_fold, val_fold
        self.sample_rate, self.clip_seconds = int(sample_rate), float(clip_seconds)
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.augment = augment
        self.gain_db, self.max_shift_seconds = gain_db, max_shift_seconds
        self.target = target_accuracy
        self.num_samples = round(self.sample_rate * self.clip_seconds)
        self.input_shape = (self.num_samples,)
        # The class count sizes the model before training starts: fetch the data now if asked.
        if download and not self._has_meta():
            self._download()
        self.meta = self._read_meta()
        names = self.meta.drop_duplicates("target").sort_values("target")
        self.original_targets = names["target"].tolist()
        self.class_names = names["category"].tolist()
        self.num_classes = len(self.class_names)

    # --- metadata ---------------------------------------------------------------------------
    @property
    def meta_path(self) -> Path:
        return self.root / "meta" / "esc50.csv"

    def _has_meta(self) -> bool:
        return self.meta_path.is_file()

    def _read_meta(self) -> pd.DataFrame:
        if not self._has_meta():
            raise OptArenaError(
                f"ESC-50 not found: no {self.meta_path}. Set data.root to an ESC-50 checkout "
                f"(audio/*.wav, meta/esc50.csv; git clone or unzip {URL}), or add "
                "data.download=true to fetch it"
            )
        try:
            meta = pd.read_csv(self.meta_path)
        except (OSError, ValueError) as err:
            raise OptArenaError(f"cannot read {self.meta_path} ({err}); restore the file") from None
        missing = META_COLUMNS - set(meta.columns)
        if missing:
            raise OptArenaError(f"{self.meta_path} lacks column(s) {sorted(missing)}: not the "
                                "official ESC-50 metadata")
        if self.subset == "esc10":
            meta = meta[meta["esc10"].astype(str).str.lower() == "true"]
        if meta.empty:
            raise OptArenaError(f"{self.meta_path} lists no clips for subset {self.subset}")
        return meta.sort_values(["fold", "filename"]).reset_index(drop=True)

    # --- download and decoding ----------------------------------------------------------------
    def _download(self) -> None:
        from torchvision.datasets.utils import download_and_extract_archive

        if self.root.is_dir() and any(self.root.iterdir()) and self.root.name != ARCHIVE_DIR:
            raise OptArenaError(f"data.root={self.root} holds files but no meta/esc50.csv; for "
                                "data.download=true point data.root at a new or empty folder")
        parent = self.root.parent
        log.info("downloading ESC-50 from %s to %s", URL, parent)
        try:
            download_and_extract_archive(URL, download_root=str(parent),
                                         filename=f"{ARCHIVE_DIR}.zip", remove_finished=True)
        except (OSError, RuntimeError, ValueError) as err:
            raise OptArenaError(f"could not download ESC-50 from {URL} ({err}); download and "
                                f"unzip it by hand, then set data.root to the folder") from None
        extracted = parent / ARCHIVE_DIR
        if extracted != self.root:
            extracted.replace(self.root)  # root is absent or empty here

    def _cache_file(self, paths: list[Path]) -> Path | None:
        if self.cache_dir is None:
            return None
        key = cache_key(paths, self.sample_rate, self.num_samples, {"subset": self.subset})
        name = f"{self.subset}-{self.sample_rate}hz-{self.num_samples}-{key}.pt"
        return self.cache_dir / name

    def cache_identity(self) -> dict:
        """What decides the splits' clips: the key of features computed from them."""
        paths = self._paths()
        return {"dataset": "esc50", "root": str(self.root.expanduser().resolve()),
                "subset": self.subset, "test_fold": self.test_fold, "val_fold": self.val_fold,
                "sample_rate": self.sample_rate, "num_samples": self.num_samples,
                "files": cache_key(paths, self.sample_rate, self.num_samples, {})}

    def _paths(self) -> list[Path]:
        return [self.root / "audio" / name for name in self.meta["filename"]]

    def _waves(self) -> torch.Tensor:
        paths = self._paths()
        return load_or_decode(paths, self.sample_rate, self.num_samples, self._cache_file(paths))

    def prepare_data(self) -> None:
        """Decode into the disk cache (Lightning calls this on one process per machine)."""
        cache_file = self._cache_file(self._paths())
        if cache_file is not None and not cache_file.is_file():
            self._waves()

    # --- splits -----------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        waves = self._waves()
        remap = {t: i for i, t in enumerate(self.original_targets)}
        labels = torch.tensor([remap[t] for t in self.meta["target"]], dtype=torch.long)
        folds = torch.tensor(self.meta["fold"].to_numpy())
        masks = {"test": folds == self.test_fold, "val": folds == self.val_fold}
        masks["train"] = ~(masks["test"] | masks["val"])
        for name, mask in masks.items():
            if not mask.any():
                raise OptArenaError(f"the {name} split of {self.meta_path} is empty: "
                                    "the metadata does not hold all five folds")
        self.splits = {name: (waves[mask], labels[mask]) for name, mask in masks.items()}

    def train_transform(self) -> BatchTransform | None:
        if not self.augment:
            return None
        return WaveformAugment(self.gain_db, round(self.max_shift_seconds * self.sample_rate))
