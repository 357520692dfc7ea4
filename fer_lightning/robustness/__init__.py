"""Robustness of a trained FER model to lighting, pose, occlusion and image-quality corruptions."""

from fer_lightning.robustness.corruptions import CORRUPTIONS, FAMILIES, SEVERITIES, Corruption, corrupt

__all__ = ["CORRUPTIONS", "FAMILIES", "SEVERITIES", "Corruption", "corrupt"]
