"""FERClassifier on its own: ten-crop averaging, padded rows ignored, compile/channels_last checkpoints."""

from __future__ import annotations

import pytest
import torch

from fer_lightning.data.sampling import IGNORE_LABEL
from fer_lightning.module import FERClassifier

MODEL = {
    "net": {"_target_": "fer_lightning.models.VGGNet", "input_size": 40, "width": 0.125, "hidden": 64},
    "pretrained": None,
    "freeze": None,
    "backbone_lr": None,
    "compile": False,
    "channels_last": False,
}


def _module(**overrides) -> FERClassifier:
    torch.manual_seed(0)
    return FERClassifier(model={**MODEL, **overrides}).eval()


def test_predict_views_averages_the_logits_of_each_crop() -> None:
    module = _module()
    x = torch.rand(3, 10, 1, 40, 40)
    expected = torch.stack([module(x[i]).mean(dim=0) for i in range(3)])
    torch.testing.assert_close(module.predict_views(x), expected)


def test_padded_rows_are_not_scored() -> None:
    module = _module()
    x, y = torch.rand(4, 1, 1, 40, 40), torch.tensor([0, 3, IGNORE_LABEL, IGNORE_LABEL])
    module._eval_step("test", (x, y))
    assert module.eval_count["test"].compute() == 2
    assert module.confusion["test"].compute().sum() == 2
    logits = module.predict_views(x[:2])
    expected_loss = torch.nn.functional.cross_entropy(logits, y[:2])
    torch.testing.assert_close(module.eval_loss["test"].compute(), expected_loss)


def test_checkpoints_are_interchangeable_with_and_without_compile_and_channels_last() -> None:
    plain = _module()
    compiled = _module(compile=True, channels_last=True)
    assert compiled._compiled, "model.compile=true wraps the net"
    # same keys: a compiled run's checkpoint loads into a plain model and back
    assert plain.state_dict().keys() == compiled.state_dict().keys()
    compiled.load_state_dict(plain.state_dict())
    fresh = _module(channels_last=True)
    fresh.load_state_dict(plain.state_dict())
    x = torch.rand(2, 1, 40, 40)
    torch.testing.assert_close(fresh(x), plain(x), rtol=1e-4, atol=1e-5)


def test_unknown_model_key_is_named() -> None:
    with pytest.raises(ValueError, match="unknown keys"):
        _module(widht=2)
    # Checkpoints of 0.1 carry the model config's unread `name`: they still load.
    assert _module(name="vggnet").hparams.model["name"] == "vggnet"


def test_each_process_counts_into_its_own_metric_states() -> None:
    """What ddp_spawn on the CPU does to the module's tensors (shared memory), undone by setup()."""
    module = _module()
    count = module.eval_count["test"]
    count.update(torch.tensor(3))
    count.sum_value.share_memory_()
    shared = count.sum_value
    module.setup("test")
    assert shared.is_shared() and not count.sum_value.is_shared() and count.sum_value == 3
    count.update(torch.tensor(2))
    assert shared == 3 and count.compute() == 5
