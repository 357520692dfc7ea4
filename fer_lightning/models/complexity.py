"""Parameter count and multiply-accumulates per image, as logged with every run."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def model_complexity(net: nn.Module, input_shape: tuple[int, ...] = (1, 1, 40, 40)) -> dict[str, int]:
    """{"params": all parameters (frozen included), "macs": of one forward pass on `input_shape`}.

    MACs are PyTorch's FLOP count halved: it counts convolutions, matmuls and attention (2 FLOPs per
    multiply-add) and not normalisation, activations, pooling or resizing, the usual MAC convention.
    """
    params = sum(p.numel() for p in net.parameters())
    ref = next(net.parameters())
    x = torch.zeros(input_shape, device=ref.device, dtype=ref.dtype)
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            net(x)
    finally:
        net.train(was_training)
    return {"params": params, "macs": counter.get_total_flops() // 2}
