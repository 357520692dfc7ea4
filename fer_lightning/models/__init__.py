"""Architectures: each maps float [B, in_chans, H, W] in [0, 1] to logits [B, num_classes]."""

from fer_lightning.models.vggnet import VGGNet

__all__ = ["VGGNet"]
