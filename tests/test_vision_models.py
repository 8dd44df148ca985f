"""The vision models: shapes, parameter counts, freezing, weights from files and caches, offline."""

import time
from pathlib import Path

import pytest
import torch
import torchvision
from hydra.utils import instantiate
from torch import nn

from optarena.errors import OptArenaError
from optarena.models import torchvision_nets as tvn
from optarena.models.freeze import freeze, weight_layer_groups
from optarena.models.pretrained import load_file
from optarena.models.timm_nets import Upsampled, timm_model, vit
from optarena.optim.param_groups import param_groups
from optarena.run import _build

MODELS = ["cnn_small", "cnn_dropout", "cnn_bn3", "resnet18", "vgg16", "vit", "timm"]
# Cheaper variants where the default is large; the defaults are checked below.
CHEAP = {"vgg16": ["model.stem=cifar"]}


def count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def build(make_cfg, model: str, in_shape: tuple, *overrides: str) -> nn.Module:
    cfg = make_cfg(f"model={model}", *CHEAP.get(model, []), *overrides)
    return _build(cfg.model, in_shape=in_shape, num_classes=10, _convert_="all")



SHAPES = {"cifar": (3, 32, 32), "mnist": (1, 28, 28), "digits": (1, 8, 8)}
# MNIST's 28x28 is not a multiple of 32, like digits' 8x8: the large nets need only one of them.
CASES = [(m, s) for m in MODELS for s in SHAPES
         if not (m in ("resnet18", "vgg16") and s == "mnist")]


@pytest.mark.parametrize(("model", "shape"), CASES)
def test_forward_backward_on_cifar_mnist_and_digits_shapes(make_cfg, model: str,
                                                           shape: str) -> None:
    torch.manual_seed(0)
    net = build(make_cfg, model, SHAPES[shape])
    logits = net(torch.randn(2, *SHAPES[shape]))
    assert logits.shape == (2, 10)
    logits.logsumexp(1).sum().backward()
    params = [p for p in net.parameters() if p.requires_grad]
    assert all(p.grad is not None for p in params)
    assert params[0].grad.abs().sum() > 0  # the gradient reaches the input layer


def test_inputs_too_small_for_a_timm_model_are_upsampled(make_cfg) -> None:
    net = build(make_cfg, "timm", (1, 8, 8), "model.name=convnext_atto")
    assert isinstance(net, Upsampled) and net.size == (32, 32)  # ConvNeXt downsamples 32x
    assert net(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    with pytest.raises(OptArenaError, match="timm has no model named 'convnextatto'; similar: "
                                            "convnext_atto"):
        timm_model((3, 32, 32), 10, name="convnextatto")
    with pytest.raises(OptArenaError, match="not a multiple of model.patch_size=3"):
        build(make_cfg, "vit", (3, 32, 32), "model.patch_size=3")


def test_parameter_counts_of_the_seeds(make_cfg) -> None:
    cifar = ("data=cifar10",)  # not digits, which has its own cnn_small settings
    assert count(build(make_cfg, "cnn_small", (3, 32, 32), *cifar)) == 62_006
    assert count(build(make_cfg, "cnn_dropout", (3, 32, 32), *cifar)) == 4_746_186
    assert count(build(make_cfg, "cnn_bn3", (3, 32, 32), *cifar)) == 620_810
    with torch.device("meta"):  # construction only: no memory, no init
        assert count(tvn.vgg16((3, 224, 224), 1000)) == 138_357_544
        assert count(tvn.vgg16((3, 32, 32), 10)) == 134_301_514
        assert count(tvn.vgg16((3, 32, 32), 10, stem="cifar")) == 33_638_218


def test_dropout_option_reaches_every_dropout_layer(make_cfg) -> None:
    for model in ("cnn_dropout", "cnn_bn3", "vit", "vgg16"):
        cfg = make_cfg(f"model={model}", *CHEAP.get(model, []))
        net = instantiate(cfg.model, in_shape=(3, 32, 32), num_classes=10, dropout=0.3)
        drops = [m.p for m in net.modules() if isinstance(m, nn.Dropout)]
        if model == "vit":  # the position-embedding dropout is emb_dropout
            drops = [m.p for n, m in net.named_modules()
                     if isinstance(m, nn.Dropout) and "blocks" in n]
        assert drops and set(drops) == {0.3}, model


def _step(net: nn.Module, shape: tuple) -> dict[str, torch.Tensor]:
    """One SGD step through the Classifier's parameter groups; returns the state before it."""
    before = {k: v.detach().clone() for k, v in net.state_dict().items()}
    opt = torch.optim.SGD(param_groups(net), lr=0.5)
    net.train()
    net(torch.randn(4, *shape)).logsumexp(1).sum().backward()
    opt.step()
    return before


def test_freeze_backbone_trains_only_the_head_and_keeps_bn_statistics(make_cfg) -> None:
    net = build(make_cfg, "resnet18", (3, 32, 32), "model.freeze=backbone")
    assert {n for n, p in net.named_parameters() if p.requires_grad} == {"fc.weight", "fc.bias"}
    before = _step(net, (3, 32, 32))
    after = net.state_dict()
    changed = {k for k in after if not torch.equal(before[k], after[k])}
    assert changed == {"fc.weight", "fc.bias"}  # running means and variances included


def test_freeze_all_but_last_k_counts_weight_layers_from_the_output(make_cfg) -> None:
    net = build(make_cfg, "resnet18", (3, 32, 32), "model.freeze=all_but_last_k", "model.k=3")
    trainable = {n.rsplit(".", 1)[0] for n, p in net.named_parameters() if p.requires_grad}
    assert trainable == {"fc", "layer4.1.conv2", "layer4.1.bn2", "layer4.1.conv1",
                         "layer4.1.bn1"}
    assert isinstance(net.layer4[1].bn1, nn.BatchNorm2d)
    assert not isinstance(net.layer4[0].bn1, nn.BatchNorm2d)  # frozen: FrozenBatchNorm2d
    with pytest.raises(OptArenaError, match=r"model.k must be an integer in \[1, 20\]"):
        build(make_cfg, "resnet18", (3, 32, 32), "model.freeze=all_but_last_k", "model.k=21")
    with pytest.raises(OptArenaError, match="model.freeze must be one of"):
        build(make_cfg, "resnet18", (3, 32, 32), "model.freeze=head")


def test_vgg16_as_in_the_seed_freezes_all_but_its_last_layer(make_cfg) -> None:
    net = build(make_cfg, "vgg16", (3, 32, 32), "model.stem=imagenet", "model.freeze=backbone")
    assert count(net) == 134_301_514 and len(weight_layer_groups(net)[0]) == 16
    trainable = [n for n, p in net.named_parameters() if p.requires_grad]
    assert trainable == ["classifier.6.weight", "classifier.6.bias"]
    before = _step(net, (3, 32, 32))
    after = net.state_dict()
    assert not torch.equal(before["classifier.6.weight"], after["classifier.6.weight"])
    assert torch.equal(before["classifier.0.weight"], after["classifier.0.weight"])


def test_vit_freeze_backbone_freezes_tokens_and_embeddings(make_cfg) -> None:
    net = build(make_cfg, "vit", (3, 32, 32), "model.freeze=backbone")
    assert [n for n, p in net.named_parameters() if p.requires_grad] == ["head.weight",
                                                                         "head.bias"]
    assert not net.cls_token.requires_grad and not net.pos_embed.requires_grad


def test_weights_file_fits_a_new_head_and_grey_input(tmp_path: Path) -> None:
    source = torchvision.models.resnet18()  # ImageNet layout, random weights
    path = tmp_path / "resnet18.pth"
    torch.save({"state_dict": {f"net.{k}": v for k, v in source.state_dict().items()}}, path)
    net = tvn.resnet18((1, 32, 32), 10, weights=str(path), freeze="backbone")
    assert torch.allclose(net.conv1.weight, source.conv1.weight.sum(1, keepdim=True))
    assert torch.equal(net.layer3[1].conv2.weight, source.layer3[1].conv2.weight)
    assert torch.equal(net.layer3[1].bn2.running_var, source.layer3[1].bn2.running_var)
    assert net.fc.weight.shape == (10, 512)
    with pytest.raises(OptArenaError, match="do not fit this model: layer1.0.conv1.weight"):
        bad = {k: v for k, v in source.state_dict().items() if not k.startswith("layer1.0.conv1")}
        torch.save(bad, path)
        tvn.resnet18((3, 32, 32), 10, weights=str(path))
    with pytest.raises(OptArenaError, match="does not exist"):
        load_file(tmp_path / "missing.pth")


def test_vgg_cifar_stem_folds_imagenet_weights_into_the_same_function() -> None:
    torch.manual_seed(0)
    imagenet = nn.Sequential(nn.AdaptiveAvgPool2d(7), nn.Flatten(), nn.Linear(512 * 49, 8))
    cifar = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 8))
    adapt = tvn._adapter("features.0.weight")
    cifar[2].weight.data = adapt("classifier.0.weight", imagenet[2].weight, cifar[2].weight)
    cifar[2].bias.data = imagenet[2].bias
    features = torch.randn(3, 512, 1, 1)  # VGG's feature map of a 32x32 image
    assert torch.allclose(imagenet(features), cifar(features), atol=1e-4)


def test_pretrained_offline_without_cache_fails_within_seconds(tmp_path, monkeypatch,
                                                              offline) -> None:
    import huggingface_hub.constants as hf

    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "torch"))
    monkeypatch.setattr(hf, "HF_HUB_CACHE", str(tmp_path / "hf"))
    start = time.perf_counter()
    with pytest.raises(OptArenaError, match=r"not in the torch hub cache .*torch/checkpoints.*"
                                            r"cannot be reached.*model\.weights="):
        tvn.resnet18((3, 32, 32), 10, pretrained=True)
    with pytest.raises(OptArenaError, match=r"not in the Hugging Face cache .*hf.*cannot be "
                                            r"reached.*model\.weights="):
        vit((3, 32, 32), 10, pretrained=True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OptArenaError, match="HF_HUB_OFFLINE is set"):
        timm_model((3, 32, 32), 10, name="resnet18d", pretrained=True)
    assert time.perf_counter() - start < 10


def test_pretrained_offline_uses_the_torch_hub_cache(tmp_path, monkeypatch, offline) -> None:
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path))
    cached = torchvision.models.resnet18()
    (tmp_path / "checkpoints").mkdir()
    torch.save(cached.state_dict(), tmp_path / "checkpoints" / "resnet18-f37072fd.pth")
    net = tvn.resnet18((3, 32, 32), 10, pretrained=True)
    assert torch.equal(net.layer2[0].conv1.weight, cached.layer2[0].conv1.weight)


def test_pretrained_offline_uses_the_hugging_face_cache(tmp_path, monkeypatch, offline) -> None:
    import huggingface_hub.constants as hf
    import timm
    from safetensors.torch import save_file

    monkeypatch.setattr(hf, "HF_HUB_CACHE", str(tmp_path))
    repo = timm.models.get_pretrained_cfg("vit_tiny_patch16_224").hf_hub_id
    snapshot = tmp_path / f"models--{repo.replace('/', '--')}" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("abc123")
    source = timm.create_model("vit_tiny_patch16_224")  # 16x16 patches, 224x224, 1000 classes
    save_file(source.state_dict(), snapshot / "model.safetensors")
    net = vit((3, 32, 32), 10, pretrained=True)  # 4x4 patches, 32x32: resampled by timm
    assert torch.equal(net.blocks[3].attn.qkv.weight, source.blocks[3].attn.qkv.weight)
    assert net.patch_embed.proj.weight.shape == (192, 3, 4, 4)
    assert net.pos_embed.shape == (1, 65, 192) and net.head.weight.shape == (10, 192)


def test_resnet_cifar_stem_with_frozen_pretrained_weights_is_refused() -> None:
    with pytest.raises(OptArenaError, match="use model.stem=imagenet"):
        tvn.resnet18((3, 32, 32), 10, stem="cifar", pretrained=True, freeze="backbone")


def test_freeze_none_leaves_everything_trainable() -> None:
    net = freeze(nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(),
                               nn.Linear(2, 3)), "none")
    assert all(p.requires_grad for p in net.parameters())
    assert isinstance(net[1], nn.BatchNorm2d)
