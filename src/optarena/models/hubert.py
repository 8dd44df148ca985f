"""HuBERT (Hsu et al., 2021) audio classifier: transformers' HubertModel, pooled, with a head."""

import warnings

import torch
from torch import Tensor, nn
from transformers import HubertModel

from optarena.errors import OptArenaError
from optarena.models.hubert_weights import load_backbone
from optarena.models.shapes import require_waveform

FREEZE = ("feature_encoder", "all", "none")
POOLING = ("mean", "layers")
HUBERT_RATE = 16000  # Hz: what the pretrained checkpoints were trained on


class HubertClassifier(nn.Module):
    """Waveform (B, T) -> HuBERT hidden states -> mean over time -> head -> logits.

    freeze: `feature_encoder` (the convolutional encoder is fixed, the transformer fine-tunes),
    `all` (only pooling weights and head train; the backbone stays in eval mode, so its
    features are deterministic and can be cached, see callbacks/feature_cache.py), `none`.
    pooling: `mean` (last layer) or `layers` (softmax-weighted sum over every layer's output,
    learned, as in SUPERB). The head is linear (`head_hidden: null`) or one hidden layer.
    """

    def __init__(
        self,
        in_shape: tuple[int, ...],
        num_classes: int,
        pretrained: str | None = "facebook/hubert-base-ls960",
        size: str = "base",
        freeze: str = "feature_encoder",
        pooling: str = "mean",
        head_hidden: int | None = 256,
        dropout: float = 0.1,
        normalize: bool = True,
        sample_rate: int | None = None,
    ) -> None:
        super().__init__()
        num_samples = require_waveform(tuple(in_shape), "hubert")
        if freeze not in FREEZE:
            raise OptArenaError(f"model.freeze must be one of {', '.join(FREEZE)}, got {freeze!r}")
        if pooling not in POOLING:
            raise OptArenaError(f"model.pooling must be one of {', '.join(POOLING)}, "
                                f"got {pooling!r}")
        if pretrained and sample_rate not in (None, HUBERT_RATE):
            raise OptArenaError(f"pretrained HuBERT expects {HUBERT_RATE} Hz audio, the data gives "
                                f"{sample_rate} Hz: set data.sample_rate={HUBERT_RATE}")
        if num_samples < 400:  # the convolutional encoder's receptive field
            raise OptArenaError(f"clips of {num_samples} samples are too short for HuBERT "
                                "(at least 400): raise data.clip_seconds")
        self.backbone: HubertModel = load_backbone(pretrained, size)
        self.weights = pretrained or f"random init, size {size}"  # for people; hashed as well
        self.freeze, self.pooling, self.normalize = freeze, pooling, normalize
        # transformers' own switch: also stops the encoder from tracking gradients of its input.
        if freeze in ("all", "feature_encoder"):
            self.backbone.feature_extractor._freeze_parameters()
        if freeze == "all":
            self.backbone.requires_grad_(False)
            self.backbone.eval()
            # Lightning warns about modules in eval mode at the start of training: intended here.
            warnings.filterwarnings("ignore", ".*module\\(s\\) in eval mode.*")
        if pooling == "layers":  # layer drop would leave layers out of the weighted sum
            self.backbone.config.layerdrop = 0.0
        width = self.backbone.config.hidden_size
        layers = self.backbone.config.num_hidden_layers + 1  # + the projected CNN features
        self.layer_weights = nn.Parameter(torch.zeros(layers)) if pooling == "layers" else None
        head: list[nn.Module] = [nn.Dropout(dropout)]
        if head_hidden:
            head += [nn.Linear(width, head_hidden), nn.ReLU(), nn.Dropout(dropout)]
            width = head_hidden
        head.append(nn.Linear(width, num_classes))
        self.head = nn.Sequential(*head)
        # True while the inputs are cached frozen_features() rather than waveforms.
        self.features_cached = False

    @property
    def can_cache_features(self) -> bool:
        """Whether frozen_features() never changes during training (the backbone is frozen)."""
        return self.freeze == "all"

    def feature_spec(self) -> dict:
        """What decides frozen_features() besides the frozen weights (the shared cache's key)."""
        return {"model": "hubert", "weights": self.weights, "pooling": self.pooling,
                "normalize": self.normalize,
                "layers": self.backbone.config.num_hidden_layers + 1}

    def train(self, mode: bool = True) -> "HubertClassifier":
        super().train(mode)
        if self.freeze == "all":
            self.backbone.eval()  # no dropout, layer drop or time masking in a frozen backbone
        return self

    def frozen_features(self, x: Tensor) -> Tensor:
        """Waveforms (B, T) -> time-averaged hidden states: (B, H), or (B, layers, H)."""
        if self.normalize:  # zero mean, unit variance per clip (Wav2Vec2FeatureExtractor)
            x = (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, keepdim=True) + 1e-7)
        out = self.backbone(x, output_hidden_states=self.pooling == "layers")
        if self.pooling == "layers":
            return torch.stack(out.hidden_states, dim=1).mean(dim=2)
        return out.last_hidden_state.mean(dim=1)

    def classify(self, features: Tensor) -> Tensor:
        """frozen_features() output -> logits (the part that trains when freeze=all)."""
        if self.layer_weights is not None:
            weights = torch.softmax(self.layer_weights, dim=0).to(features.dtype)
            features = (features * weights[:, None]).sum(dim=1)
        return self.head(features)

    def forward(self, x: Tensor) -> Tensor:
        return self.classify(x if self.features_cached else self.frozen_features(x))
