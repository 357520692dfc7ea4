"""Transfer learning from weights files the tests write: local files in torchvision, timm, Lightning and the
paper code's layouts; named weights found in a local cache; RGB -> gray first conv; freezing and
per-group learning rates."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import torchvision

from fer_lightning.models import (
    VGG16BN,
    PAttLite,
    ResNet,
    TimmNet,
    build_net,
    load_pretrained,
    param_groups,
    resolve_weights,
)


def _gray(n: int = 2, side: int = 40) -> torch.Tensor:
    return torch.rand(n, 1, side, side, generator=torch.Generator().manual_seed(0))


def _model_cfg(compose_cfg, *overrides: str):
    return compose_cfg(*overrides, tiny=False).model


@pytest.fixture(scope="module")
def torchvision_resnet18(tmp_path_factory) -> tuple[torch.nn.Module, Path]:
    """torchvision's own resnet18 (random weights, BN statistics moved off their defaults), saved as
    torchvision names it in the torch hub cache."""
    torch.manual_seed(0)
    net = torchvision.models.resnet18()
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    path = tmp_path_factory.mktemp("torch_home") / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    path.parent.mkdir(parents=True)
    torch.save(net.state_dict(), path)
    return net.eval(), path


def test_torchvision_resnet18_file_loads_with_the_first_conv_summed(torchvision_resnet18) -> None:
    ref, path = torchvision_resnet18
    state = torch.load(path, weights_only=True)
    net = ResNet(stem="imagenet")  # one channel, 7 classes
    fc_init = net.head[1].weight.clone()
    report = load_pretrained(net, resolve_weights(str(path)))
    own = net.state_dict()
    assert torch.equal(own["conv1.weight"], state["conv1.weight"].sum(dim=1, keepdim=True))
    assert report.adapted == ["conv1.weight"]
    for key, value in state.items():
        if key != "conv1.weight" and not key.startswith("fc."):
            assert torch.equal(own[key], value), key
    assert torch.equal(net.head[1].weight, fc_init)  # 1000 -> 7 classes: the classifier stays at init
    assert {"head.1.weight", "head.1.bias"} <= set(report.kept_init)


def test_one_channel_model_answers_a_gray_image_as_torchvisions_rgb_model(torchvision_resnet18) -> None:
    ref, path = torchvision_resnet18
    net = ResNet(stem="imagenet", num_classes=1000)
    load_pretrained(net, resolve_weights(str(path)))
    x = _gray(2, 64)
    with torch.no_grad():
        assert torch.allclose(net.eval()(x), ref(x.expand(-1, 3, -1, -1)), rtol=1e-4, atol=1e-5)


def _trained_like(net: torch.nn.Module) -> torch.nn.Module:
    """BN statistics and weights away from their initial values, so a wrong load shows."""
    torch.manual_seed(3)
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if t.is_floating_point():
                t.copy_(
                    torch.rand_like(t) + 0.5
                    if name.endswith("running_var")
                    else t + 0.05 * torch.randn_like(t)
                )
    return net.eval()


def test_vgg16_rgb_file_in_torchvision_names_gives_the_same_gray_response(tmp_path: Path) -> None:
    rgb = _trained_like(VGG16BN(in_chans=3, width=0.125))
    path = tmp_path / "vgg16_bn.pth"
    torch.save({k.replace("head.", "classifier."): v for k, v in rgb.state_dict().items()}, path)
    gray = VGG16BN(width=0.125)
    report = load_pretrained(gray, resolve_weights(str(path)))
    assert report.adapted == ["features.0.weight"] and not report.dropped
    x = _gray()
    with torch.no_grad():
        assert torch.allclose(gray.eval()(x), rgb(x.expand(-1, 3, -1, -1)), rtol=1e-4, atol=1e-5)


def test_patt_lite_takes_timms_mobilenetv1_and_computes_what_timm_computes(tmp_path: Path) -> None:
    import safetensors.torch
    import timm

    mobilenet = _trained_like(timm.create_model("mobilenetv1_100"))
    path = tmp_path / "mobilenetv1_100.safetensors"
    safetensors.torch.save_file(mobilenet.state_dict(), str(path))
    net = PAttLite()
    report = load_pretrained(net, resolve_weights(str(path)))
    assert report.adapted == ["backbone.conv_stem.weight"]
    assert any(k.startswith("blocks.4.") for k in report.dropped)  # blocks after block 9 are cut off
    x = _gray(1, 224)
    with torch.no_grad():
        h = x.expand(-1, 3, -1, -1)
        for layer in [mobilenet.conv_stem, mobilenet.bn1, *mobilenet.blocks[:3], mobilenet.blocks[3][:4]]:
            h = layer(h)
        assert torch.allclose(net.backbone.eval()(x), h, rtol=1e-4, atol=1e-5)


def test_timm_net_loads_through_timm_which_sums_the_rgb_conv(tmp_path: Path) -> None:
    import timm

    rgb = _trained_like(timm.create_model("test_resnet"))
    path = tmp_path / "test_resnet.pth"
    torch.save(rgb.state_dict(), path)
    same_head = TimmNet("test_resnet", num_classes=1000)
    report = load_pretrained(same_head, resolve_weights(str(path)))
    first = rgb.state_dict()["conv1.0.weight"]
    assert torch.equal(same_head.model.conv1[0].weight, first.sum(dim=1, keepdim=True))
    assert report.adapted == ["model.conv1.0.weight"]
    x = _gray()
    with torch.no_grad():
        assert torch.allclose(same_head.eval()(x), rgb(x.expand(-1, 3, -1, -1)), rtol=1e-4, atol=1e-5)
    seven = TimmNet("test_resnet")
    report = load_pretrained(seven, resolve_weights(str(path)))
    assert {"model.fc.weight", "model.fc.bias"} <= set(report.kept_init)


def _paper_forward(p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """usef-kh/fer models/vgg.py Vgg.forward in eval mode, written against its layer names."""
    for stage in "1234":
        for ab in "ab":
            x = F.conv2d(x, p[f"conv{stage}{ab}.weight"], p[f"conv{stage}{ab}.bias"], padding=1)
            bn = f"bn{stage}{ab}"
            x = F.relu(
                F.batch_norm(
                    x, p[f"{bn}.running_mean"], p[f"{bn}.running_var"], p[f"{bn}.weight"], p[f"{bn}.bias"]
                )
            )
        x = F.max_pool2d(x, 2, 2)
    x = x.view(-1, 512 * 2 * 2)
    x = F.relu(F.linear(x, p["lin1.weight"], p["lin1.bias"]))
    x = F.relu(F.linear(x, p["lin2.weight"], p["lin2.bias"]))
    return F.linear(x, p["lin3.weight"], p["lin3.bias"])


def test_the_paper_codes_checkpoint_loads_into_vggnet(compose_cfg, tmp_path: Path) -> None:
    torch.manual_seed(0)
    p: dict[str, torch.Tensor] = {}
    chans = [(1, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 512), (512, 512)]
    for (i, o), name in zip(chans, [f"{s}{ab}" for s in "1234" for ab in "ab"], strict=True):
        p[f"conv{name}.weight"] = torch.randn(o, i, 3, 3) * (2 / (9 * i)) ** 0.5
        p[f"conv{name}.bias"] = 0.1 * torch.randn(o)
        p[f"bn{name}.weight"], p[f"bn{name}.bias"] = 1 + 0.1 * torch.randn(o), 0.1 * torch.randn(o)
        p[f"bn{name}.running_mean"], p[f"bn{name}.running_var"] = 0.1 * torch.randn(o), 0.5 + torch.rand(o)
        p[f"bn{name}.num_batches_tracked"] = torch.tensor(100)
    for name, (i, o) in {"lin1": (2048, 4096), "lin2": (4096, 4096), "lin3": (4096, 7)}.items():
        p[f"{name}.weight"], p[f"{name}.bias"] = torch.randn(o, i) / i**0.5, 0.1 * torch.randn(o)
    path = tmp_path / "VGGNet"  # utils/checkpoint.py: {'logs': ..., 'params': net.state_dict()}, no suffix
    torch.save({"logs": {"acc_v": [0.7]}, "params": p}, path)
    net = build_net(_model_cfg(compose_cfg, "model=vggnet", f"model.pretrained='{path}'")).eval()
    x = _gray()
    with torch.no_grad():
        assert torch.allclose(net(x), _paper_forward(p, x), rtol=1e-4, atol=1e-4)


def test_a_lightning_checkpoint_of_this_project_reloads_identically(compose_cfg, tmp_path: Path) -> None:
    import pytorch_lightning as pl
    from omegaconf import OmegaConf
    from torch.utils.data import DataLoader, TensorDataset

    from fer_lightning.module import FERClassifier

    cfg = compose_cfg("model=vggnet", "model.net.width=0.125", "scheduler=constant", tiny=False)
    parts = {k: OmegaConf.to_container(cfg[k], resolve=True) for k in ("model", "optimizer", "scheduler")}
    module = FERClassifier(**parts)
    data = DataLoader(TensorDataset(torch.rand(8, 1, 1, 40, 40), torch.randint(0, 7, (8,))), batch_size=4)
    trainer = pl.Trainer(
        accelerator="cpu",
        max_steps=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, data)
    ckpt = tmp_path / "best.ckpt"
    trainer.save_checkpoint(ckpt)
    net = build_net(
        _model_cfg(compose_cfg, "model=vggnet", "model.net.width=0.125", f"model.pretrained='{ckpt}'")
    )
    x = _gray()
    with torch.no_grad():
        assert torch.equal(net.eval()(x), module.net.eval()(x))


def test_named_torchvision_weights_come_from_the_torch_hub_cache_only(
    compose_cfg, torchvision_resnet18, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(
        FileNotFoundError,
        match=r"ResNet18_Weights.IMAGENET1K_V1.*looked for .*resnet18-f37072fd.pth.*no network",
    ):
        build_net(_model_cfg(compose_cfg, "model=resnet18_imagenet"))
    ref, path = torchvision_resnet18
    monkeypatch.setenv("TORCH_HOME", str(path.parents[2]))
    net = build_net(_model_cfg(compose_cfg, "model=resnet18_imagenet"))
    assert net.input_adapter.resize_to == 224  # the size the weights were trained at
    assert net.input_adapter.mean.item() == pytest.approx((0.485 + 0.456 + 0.406) / 3)
    assert torch.equal(net.conv1.weight, ref.conv1.weight.sum(dim=1, keepdim=True))
    assert net(_gray()).shape == (2, 7)


def _hf_cache(root: Path, repo: str, filename: str) -> Path:
    """The Hugging Face hub cache layout: refs/main names the snapshot that holds the file."""
    folder = root / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text("0" * 40)
    path = folder / "snapshots" / ("0" * 40) / filename
    path.parent.mkdir(parents=True)
    return path


def test_named_timm_weights_come_from_the_hugging_face_cache_only(
    compose_cfg, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import huggingface_hub
    import safetensors.torch
    import timm

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(
        FileNotFoundError, match=r"mobilenetv1_100.ra4_e3600_r224_in1k.*Hugging Face cache.*no network"
    ):
        build_net(_model_cfg(compose_cfg, "model=patt_lite_imagenet", "model.net.width=0.25"))
    mobilenet = timm.create_model("mobilenetv1_100")
    path = _hf_cache(tmp_path / "hf", "timm/mobilenetv1_100.ra4_e3600_r224_in1k", "model.safetensors")
    safetensors.torch.save_file(mobilenet.state_dict(), str(path))
    net = build_net(_model_cfg(compose_cfg, "model=patt_lite_imagenet"))
    assert torch.equal(net.backbone.blocks[3][3].conv_pw.weight, mobilenet.blocks[3][3].conv_pw.weight)
    assert net.input_adapter.mean.item() == 0.5 and net.input_adapter.std.item() == 0.5
    assert all(not p.requires_grad for p in net.backbone.parameters())  # the preset freezes the backbone
    assert all(p.requires_grad for p in net.head.parameters())

    with pytest.raises(
        FileNotFoundError, match=r"resnet18.a1_in1k.*Hugging Face cache.*resnet18_a1_0-d63eafa0.pth"
    ):
        build_net(_model_cfg(compose_cfg, "model=timm", "model.pretrained=a1_in1k"))


@pytest.mark.parametrize(
    ("overrides", "error", "match"),
    [
        (["model=vgg16", "model.pretrained=IMAGENET9K_V9"], ValueError, r"IMAGENET9K_V9.*IMAGENET1K_V1"),
        (
            ["model=timm", "model.net.name=test_resnet", "model.pretrained=no_such_tag"],
            ValueError,
            r"r160_in1k",
        ),
        (
            ["model=vggnet", "model.pretrained=weights/missing.pth"],
            FileNotFoundError,
            r"no weights file at .*missing.pth",
        ),
        (["model=vggnet", "+model.pretrain=x"], ValueError, r"unknown keys \['pretrain'\]"),
        (["model=resnet18", "model.freeze=[layer9]"], ValueError, r"no parameters under 'layer9'"),
    ],
)
def test_bad_settings_say_what_was_expected(compose_cfg, overrides, error, match) -> None:
    with pytest.raises(error, match=match):
        build_net(_model_cfg(compose_cfg, *overrides))


def test_a_file_of_another_architecture_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "resnet.pt"
    torch.save(ResNet(width=0.125).state_dict(), path)
    with pytest.raises(ValueError, match=r"does not fit VGG16BN: 'conv1.weight': no such tensor"):
        load_pretrained(VGG16BN(width=0.125), resolve_weights(str(path)))


def test_a_pickle_with_python_objects_is_not_unpickled(tmp_path: Path) -> None:
    path = tmp_path / "weights.pth"
    torch.save({"conv1.weight": torch.zeros(1), "origin": tmp_path}, path)
    with pytest.raises(ValueError, match=r"weights.pth: holds Python objects besides tensors"):
        load_pretrained(ResNet(width=0.125), resolve_weights(str(path)))


def test_freezing_and_backbone_learning_rate(compose_cfg) -> None:
    net = build_net(
        _model_cfg(compose_cfg, "model=resnet18", "model.net.width=0.125", "model.freeze=[conv1,layer1]")
    )
    frozen = {n for n, p in net.named_parameters() if not p.requires_grad}
    assert frozen == {n for n in dict(net.named_parameters()) if n.startswith(("conv1.", "layer1."))}

    net = build_net(_model_cfg(compose_cfg, "model=resnet18", "model.net.width=0.125"))
    (single,) = param_groups(net, lr=0.1, backbone_lr=None)
    assert single["lr"] == 0.1 and len(single["params"]) == len(list(net.parameters()))
    groups = param_groups(net, lr=0.1, backbone_lr=0.0)
    assert [(g["name"], g["lr"]) for g in groups] == [("backbone", 0.0), ("head", 0.1)]
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in net.head.parameters()}
    assert sum(len(g["params"]) for g in groups) == len(list(net.parameters()))
    # A real step: the backbone at lr 0 stays put, the head moves.
    before = [p.detach().clone() for p in net.parameters()]
    optimizer = torch.optim.SGD(groups, lr=1.0)
    F.cross_entropy(net(_gray(4)), torch.tensor([0, 1, 2, 3])).backward()
    optimizer.step()
    moved = {n for (n, p), b in zip(net.named_parameters(), before, strict=True) if not torch.equal(p, b)}
    assert moved == {"head.1.weight", "head.1.bias"}

    net = build_net(
        _model_cfg(compose_cfg, "model=resnet18", "model.net.width=0.125", "model.freeze=backbone")
    )
    assert [g["name"] for g in param_groups(net, lr=0.1, backbone_lr=0.01)] == ["head"]
    for p in net.head.parameters():
        p.requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        param_groups(net, lr=0.1, backbone_lr=None)
