"""Every `model=` choice: output shape, parameter count, a training step on CPU, a checkpoint that reloads
to identical outputs; the PAtt-Lite attention stays inside each image."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torchvision.models import ResNet18_Weights, VGG16_BN_Weights

from fer_lightning.models import VGG16BN, PAttLite, ResNet, TimmNet, VGGNet, build_net, model_complexity

CONF_MODEL = Path(__file__).resolve().parents[2] / "conf" / "model"

# Narrow variants of each architecture (same topology), so a step takes well under a second on 2 cores.
FAST = {
    "vggnet": ["model.net.width=0.125"],
    "vgg16": ["model.net.width=0.125"],
    "resnet18": ["model.net.width=0.125"],
    "patt_lite": ["model.net.width=0.25"],
    "timm": ["model.net.name=test_resnet"],
}
# Presets that start from named weights; test_pretrained.py builds them from weights files it writes.
PRESETS = {"vgg16_imagenet", "resnet18_imagenet", "patt_lite_imagenet"}


def _params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def test_every_model_config_is_tested() -> None:
    # _base.yaml holds what every model config shares
    assert {p.stem for p in CONF_MODEL.glob("*.yaml")} == set(FAST) | PRESETS | {"_base"}


@pytest.mark.parametrize("name", sorted(FAST))
def test_trains_a_step_and_a_saved_state_reloads_identically(name, compose_cfg, tmp_path: Path) -> None:
    torch.manual_seed(0)
    cfg = compose_cfg(f"model={name}", *FAST[name], tiny=False).model
    net = build_net(cfg)
    x, y = torch.rand(3, 1, 40, 40), torch.tensor([0, 3, 6])

    seen: list[torch.Size] = []
    hook = net.gradcam_layer.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    logits = net(x)
    hook.remove()
    assert logits.shape == (3, 7)
    assert len(seen) == 1 and len(seen[0]) == 4, "gradcam_layer must give a [B, C, h, w] map"

    before = {k: p.detach().clone() for k, p in net.named_parameters()}
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    F.cross_entropy(logits, y).backward()
    assert all(p.grad is not None and p.grad.isfinite().all() for p in net.parameters())
    optimizer.step()
    changed = {k for k, p in net.named_parameters() if not torch.equal(before[k], p)}
    # Not every tensor moves on step one (timm zero-initialises the last BN of each residual branch).
    assert {next(iter(before)), list(before)[-1]} <= changed

    net.eval()
    with torch.no_grad():
        expected = net(x)
    path = tmp_path / "net.pt"
    torch.save(net.state_dict(), path)
    torch.manual_seed(1)
    fresh = build_net(cfg).eval()
    with torch.no_grad():
        assert not torch.allclose(fresh(x), expected)
        fresh.load_state_dict(torch.load(path, weights_only=True))
        assert torch.equal(fresh(x), expected)


def _paper_vggnet_params() -> int:
    # usef-kh/fer models/vgg.py: conv{1..4}{a,b} (3x3 with bias) + BN, lin1 512*2*2 -> 4096, lin2, lin3 -> 7.
    convs = [(1, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 512), (512, 512)]
    linears = [(512 * 2 * 2, 4096), (4096, 4096), (4096, 7)]
    return sum(9 * i * o + o + 2 * o for i, o in convs) + sum(i * o + o for i, o in linears)


def test_vggnet_has_the_papers_29_9_million_parameters() -> None:
    with torch.device("meta"):
        net = VGGNet()
        half = VGGNet(width=0.5)
    assert _params(net) == _paper_vggnet_params() == 29_890_759
    assert round(_params(net) / 1e6, 1) == 29.9
    assert half.head[1].out_features == 2048  # width scales the hidden layers too


def test_vgg16_and_resnet18_match_torchvisions_published_sizes() -> None:
    vgg_tv = VGG16_BN_Weights.IMAGENET1K_V1.meta["num_params"]  # 138,365,992
    resnet_tv = ResNet18_Weights.IMAGENET1K_V1.meta["num_params"]  # 11,689,512
    with torch.device("meta"):
        assert _params(VGG16BN(num_classes=1000, in_chans=3, resize_to=224)) == vgg_tv
        assert _params(ResNet(num_classes=1000, in_chans=3, stem="imagenet")) == resnet_tv
        vgg, resnet = VGG16BN(), ResNet()
    # At 40 px VGG's last map is 1x1 (512 features, not 512*7*7), one input channel, 7 classes.
    assert _params(vgg) == vgg_tv - 512 * 49 * 4096 + 512 * 4096 - 993 * 4097 - 2 * 64 * 9 == 33_633_223
    # The small stem: a 3x3 rather than 7x7 first conv, one channel, 7 classes.
    assert _params(resnet) == resnet_tv - 64 * 3 * 49 + 64 * 9 - 993 * 513 == 11_171_271


def test_patt_lite_is_a_truncated_timm_mobilenet_plus_its_head() -> None:
    import timm

    mobilenet = timm.create_model("mobilenetv1_100", in_chans=1)
    kept = [mobilenet.conv_stem, mobilenet.bn1, *mobilenet.blocks[:3], mobilenet.blocks[3][:4]]
    trunk = sum(_params(m) for m in kept)
    # separable 4x4 (512 -> 256), separable 2x2 (256 -> 256), 1x1, embedding 256 -> 32 + BN, scale, classifier.
    head = (
        512 * 16
        + (512 * 256 + 256)
        + 256 * 4
        + (256 * 256 + 256)
        + (256 * 256 + 256)
        + (256 * 32 + 32)
        + 64
        + 1
    )
    head += 32 * 7 + 7
    with torch.device("meta"):
        net = PAttLite()
    assert _params(net.backbone) == trunk
    assert _params(net) == trunk + head


def test_timm_net_is_the_timm_model() -> None:
    import timm

    with torch.device("meta"):
        net = TimmNet("resnet18")
        ref = timm.create_model("resnet18", num_classes=7, in_chans=1)
    assert _params(net) == _params(ref)
    assert net.head is net.model.fc
    with pytest.raises(ValueError, match="not a timm model"):
        TimmNet("resnet_does_not_exist")


def test_vggnet_macs_match_the_papers_flop_count() -> None:
    with torch.device("meta"):
        stats = model_complexity(VGGNet(), input_shape=(1, 1, 40, 40))
    stages = [(40, 1, 64), (20, 64, 128), (10, 128, 256), (5, 256, 512)]
    convs = sum(s * s * 9 * (i * o + o * o) for s, i, o in stages)
    linears = 2048 * 4096 + 4096 * 4096 + 4096 * 7
    assert stats == {"params": 29_890_759, "macs": convs + linears}
    # PAPER.md: one training step is 2.10 GFLOP per 40x40 crop; forward + backward is ~3 forwards.
    assert math.isclose(3 * 2 * stats["macs"] / 1e9, 2.10, abs_tol=0.01)


def test_knobs_change_the_network() -> None:
    with torch.device("meta"):
        assert len(VGGNet(depth=3).features[0]) == 3 * 3 + 1
        assert [len(ResNet(depth=[1, 2, 3, 1]).get_submodule(f"layer{i}")) for i in range(1, 5)] == [
            1,
            2,
            3,
            1,
        ]
        assert _params(ResNet(width=0.5)) < _params(ResNet())
        assert _params(PAttLite(width=0.5)) < _params(PAttLite())
        assert VGG16BN(dropout=0.3).head[2].p == 0.3
    with pytest.raises(ValueError, match="65 px"):
        PAttLite(resize_to=None, input_size=40)


def test_patt_lite_attention_stays_inside_each_image() -> None:
    torch.manual_seed(0)
    net = PAttLite(width=0.25).eval()
    x = torch.rand(4, 1, 40, 40)
    batch_mates_changed = torch.cat([x[:1], torch.rand(3, 1, 40, 40)])
    sample_changed = torch.cat([torch.rand(1, 1, 40, 40), x[1:]])
    tokens: list[torch.Size] = []
    net.head.patch_extraction.register_forward_hook(lambda m, i, o: tokens.append(o.shape))
    with torch.no_grad():
        out = net(x)
        assert tokens[0][-2:] == (2, 2)  # 224 px -> 2x2 patch tokens, as published
        assert torch.allclose(net(batch_mates_changed)[0], out[0], rtol=0, atol=1e-6)
        assert not torch.allclose(net(sample_changed)[0], out[0], rtol=0, atol=1e-4)

        # The check catches the published bug: the same attention over the batch's pooled vectors.
        def published(batch: torch.Tensor) -> torch.Tensor:
            pooled = net.head.patch_extraction(net.backbone(net.input_adapter(batch))).mean(dim=(2, 3))
            return net.head.attention(pooled.unsqueeze(0)).squeeze(0)

        assert not torch.allclose(published(batch_mates_changed)[0], published(x)[0], rtol=0, atol=1e-6)
