"""LinearityIQA: Li, Jiang, Jiang, "Norm-in-Norm Loss with Faster Convergence and Better Performance for
Image Quality Assessment", ACM MM 2020.

Official code: github.com/lidq92/LinearityIQA (``IQAmodel.py``, ``test_demo.py``). The official
inference of the released ``p1q2.pth`` (KonIQ-10k, ResNeXt-101 32x8d, Norm-in-Norm loss p=1, q=2),
reproduced in :class:`LinearityIQA`:

1. ``--resize``: PIL bilinear resize to 498 x 664 (H x W; the model was trained on resized images);
   without it the image is used at its native size;
2. ``to_tensor`` and ImageNet ``normalize``;
3. the backbone (torchvision ResNeXt-101 32x8d without ``avgpool``/``fc``, ``features.0`` ... ``features.7``);
   the outputs of layer3 (``features.6``) and layer4 (``features.7``) go through SPSP pooling
   (``P = 1`` and ``avg``: the global mean), then ``dr6`` / ``dr7`` (Linear-BN-Linear-BN-Linear-BN-ReLU,
   -> 1024 -> 256 -> 64) and per-level regressors ``regr6`` / ``regr7``;
4. ``regression`` on the concatenated 128-d feature gives the raw prediction ``pq[-1]``;
5. the score is ``pq[-1] * k[0] + b[0]``: the linear mapping to the label scale that the training
   script fitted on the validation set and stored next to the weights (``checkpoint['k']``, ``['b']``).

Scores are on the training labels' scale (KonIQ-10k / LIVE Challenge subjective scores, 0-100),
higher is better. ``arch`` selects another torchvision ResNet/ResNeXt (the NT defence of Liu et al.,
CVPR 2024, trained LinearityIQA with ResNet-34).
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advqa.errors import InputError, WeightsError
from advqa.models.base import ImageQualityModel, ModelCard, WeightsSpec
from advqa.models.crops import normalise, resize_like_pil
from advqa.models.registry import register

log = logging.getLogger(__name__)

__all__ = ["LINEARITYIQA_CARD", "LinearityIQA", "create_linearityiqa", "spsp"]

LINEARITYIQA_WEIGHTS = WeightsSpec(
    url="https://drive.google.com/drive/folders/1H79ptqjcR4NH6HP4wLsEmqwhNqNNqXwh?usp=sharing",
    sha256=None,
    filename="p1q2.pth",
    licence="MIT (lidq92/LinearityIQA)",
    notes="p1q2.pth (KonIQ-10k, resnext101_32x8d, trained on 498 x 664 resizes), from the lidq92/LinearityIQA "
          "README's Google Drive folder (or Baidu pan, password 4z7z); fetch it by hand and pass weights=. "
          "A training checkpoint {'model': state_dict, 'optimizer', 'amp', 'k': [..], 'b': [..]}.",
)

LINEARITYIQA_CARD = ModelCard(
    name="linearityiqa",
    paper="Li, Jiang, Jiang. Norm-in-Norm Loss with Faster Convergence and Better Performance for Image "
          "Quality Assessment. ACM MM 2020",
    score_range=(0.0, 100.0),
    higher_is_better=True,
    input="any size; resized to 498 x 664 (H x W, PIL bilinear) as the released p1q2.pth was trained "
          "(resize=None: native size, as the MSU benchmark runs it); ImageNet normalisation inside",
    weights=(LINEARITYIQA_WEIGHTS,),
    licence="MIT (lidq92/LinearityIQA)",
    kind="image",
    notes="score = regression output * k[0] + b[0], with k, b read from the checkpoint (label scale, "
          "0-100 for KonIQ-10k / LIVE Challenge). Options: arch (torchvision ResNet/ResNeXt name; "
          "resnet34 for the NT variant), resize, pool, P6, P7, use_bn_end.",
)

_ARCHS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d", "resnext101_32x8d",
          "wide_resnet50_2", "wide_resnet101_2")
_POOLS = ("avg", "max", "min", "maxmin", "std", "mean_std")


def spsp(x: Tensor, p: int = 1, method: str = "avg") -> Tensor:
    """Spatial pyramid pooling of the official code: for ``p' = 1..p`` pool with kernel = stride =
    ``int(map / p')``; ``method`` in avg, max, min, maxmin (max then min), std, or anything else
    (official: mean then std). ``(N, C, h, w)`` -> ``(N, D)``; with ``p = 1`` one global value per channel."""
    n = x.shape[0]
    feats = []
    for q in range(1, p + 1):
        size = [int(d / q) for d in x.shape[-2:]]
        if method in ("max", "min", "maxmin"):
            hi = F.max_pool2d(x, size)
            lo = -F.max_pool2d(-x, size)
            part = {"max": hi, "min": lo, "maxmin": torch.cat((hi, lo), 1)}[method]
        elif method == "avg":
            part = F.avg_pool2d(x, size)
        else:
            m1 = F.avg_pool2d(x, size)
            rm2 = torch.sqrt(F.relu(F.avg_pool2d(x * x, size) - m1 * m1))
            part = rm2 if method == "std" else torch.cat((m1, rm2), 1)
        feats.append(part.reshape(n, -1))
    return torch.cat(feats, dim=1)


def _reduction(in_features: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_features, 1024), nn.BatchNorm1d(1024), nn.Linear(1024, 256),
                         nn.BatchNorm1d(256), nn.Linear(256, 64), nn.BatchNorm1d(64), nn.ReLU())


class LinearityIQA(ImageQualityModel):
    """LinearityIQA on the image contract: ``(N, 3, H, W)`` in [0, 1] -> ``pq[-1] * k[0] + b[0]`` ``(N,)``.

    State dict: the official ``IQAModel`` keys (``features.0.weight`` ... ``features.7.*``, ``dr6.*``,
    ``dr7.*``, ``regr6.*``, ``regr7.*``, ``regression.*``), the ``model`` entry of an official checkpoint.
    ``k`` and ``b`` (three values each: final, layer3 and layer4 predictions) are plain attributes, set
    from the checkpoint by :func:`create_linearityiqa`.
    """

    card = LINEARITYIQA_CARD
    chunk_size = 2
    #: indices of layer3 and layer4 in ``features`` (the official ``id1``, ``id2``)
    id1, id2 = 6, 7

    def __init__(self, *, arch: str = "resnext101_32x8d", resize: tuple[int, int] | None = (498, 664),
                 pool: str = "avg", P6: int = 1, P7: int = 1, use_bn_end: bool = False,
                 k: Sequence[float] = (1.0, 1.0, 1.0), b: Sequence[float] = (0.0, 0.0, 0.0)) -> None:
        super().__init__()
        if arch not in _ARCHS:
            raise InputError(f"linearityiqa: arch must be one of {', '.join(_ARCHS)}, got {arch!r}")
        if pool not in _POOLS:
            raise InputError(f"linearityiqa: pool must be one of {', '.join(_POOLS)}, got {pool!r}")
        if not (isinstance(P6, int) and isinstance(P7, int) and P6 >= 1 and P7 >= 1):
            raise InputError(f"linearityiqa: P6 and P7 must be positive integers, got {P6!r}, {P7!r}")
        if resize is not None:
            if len(tuple(resize)) != 2 or min(int(v) for v in resize) < 32:
                raise InputError(f"linearityiqa: resize must be (height, width) >= 32 or None, got {resize!r}")
            resize = (int(resize[0]), int(resize[1]))
        self.arch, self.resize, self.pool_method, self.P6, self.P7 = arch, resize, pool, P6, P7
        self.use_bn_end = bool(use_bn_end)
        self.set_mapping(k, b)
        import torchvision.models as tvm

        self.features = nn.Sequential(*list(getattr(tvm, arch)(weights=None).children())[:-2])
        in6, in7 = (256, 512) if arch in ("resnet18", "resnet34") else (1024, 2048)
        c = 1 if pool in ("max", "min", "avg", "std") else 2
        self.dr6 = _reduction(in6 * c * sum(p * p for p in range(1, P6 + 1)))
        self.dr7 = _reduction(in7 * c * sum(p * p for p in range(1, P7 + 1)))
        if self.use_bn_end:
            self.regr6 = nn.Sequential(nn.Linear(64, 1), nn.BatchNorm1d(1))
            self.regr7 = nn.Sequential(nn.Linear(64, 1), nn.BatchNorm1d(1))
            self.regression = nn.Sequential(nn.Linear(128, 1), nn.BatchNorm1d(1))
        else:
            self.regr6 = nn.Linear(64, 1)
            self.regr7 = nn.Linear(64, 1)
            self.regression = nn.Linear(128, 1)
        self.eval()

    def set_mapping(self, k: Sequence[float], b: Sequence[float]) -> None:
        """Set the linear mapping to the label scale (``checkpoint['k']``, ``checkpoint['b']``)."""
        k, b = [float(v) for v in k], [float(v) for v in b]
        if len(k) != 3 or len(b) != 3:
            raise InputError(f"linearityiqa: k and b need three values each, got {k}, {b}")
        self.k, self.b = k, b

    def predictions(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Raw predictions ``(layer3, layer4, final)``, each ``(N,)``, of images ``(N, 3, H, W)`` in [0, 1]
        (the official ``forward``'s ``pq`` list, before the ``k``, ``b`` mapping)."""
        if self.resize is not None:
            images = resize_like_pil(images, self.resize)
        if min(images.shape[-2:]) < 32:
            raise InputError(f"linearityiqa needs images of at least 32 x 32 pixels, got "
                             f"{tuple(images.shape[-2:])}; keep the default resize")
        x = normalise(images)
        f, pq = [], []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in (self.id1, self.id2):
                dr, regr, p = (self.dr6, self.regr6, self.P6) if i == self.id1 else (self.dr7, self.regr7, self.P7)
                pooled = spsp(x, p, self.pool_method)
                if pooled.shape[1] != dr[0].in_features:
                    raise InputError(f"linearityiqa: SPSP with P={p} on a {tuple(x.shape[-2:])} map gives "
                                     f"{pooled.shape[1]} features, the model expects {dr[0].in_features}; "
                                     "use a larger input")
                h = dr(pooled)
                f.append(h)
                pq.append(regr(h).reshape(-1))
        pq.append(self.regression(torch.cat(f, dim=1)).reshape(-1))
        return pq[0], pq[1], pq[2]

    def score_images(self, images: Tensor) -> Tensor:
        return self.predictions(images)[-1] * self.k[0] + self.b[0]


@register("linearityiqa", LINEARITYIQA_CARD)
def create_linearityiqa(weights: str | Path | None = None, device: str | torch.device = "cpu", *,
                        pretrained: bool = True, arch: str = "resnext101_32x8d",
                        resize: tuple[int, int] | None = (498, 664), pool: str = "avg", P6: int = 1, P7: int = 1,
                        use_bn_end: bool = False) -> LinearityIQA:
    """Build LinearityIQA. ``weights``: an official checkpoint (``{'model': state_dict, 'k', 'b', ...}``,
    ``k``/``b`` read from it) or a plain state dict (then ``k = 1, b = 0``: raw predictions), loaded with
    ``strict=True``. The official ``p1q2.pth`` is on Google Drive / Baidu pan, so ``weights=None`` raises
    unless ``pretrained=False`` (random weights, tests)."""
    model = LinearityIQA(arch=arch, resize=resize, pool=pool, P6=P6, P7=P7, use_bn_end=use_bn_end)
    if weights is not None:
        from advqa.models import weights as W
        from advqa.models.checkpoints import load_checkpoint, official_state_dict

        obj: Any = load_checkpoint(W.resolve(weights, LINEARITYIQA_WEIGHTS))
        if isinstance(obj, Mapping) and "model" in obj and not isinstance(obj["model"], Tensor):
            W.load_into(model, official_state_dict(obj, model, key="model"), strict=True)
            if "k" in obj and "b" in obj:
                model.set_mapping(list(obj["k"]), list(obj["b"]))
            else:
                log.warning("linearityiqa: the checkpoint has no k, b: scores are raw predictions")
        else:
            W.load_into(model, official_state_dict(obj, model), strict=True)
            log.warning("linearityiqa: a plain state dict has no k, b: scores are raw predictions")
    elif pretrained:
        raise WeightsError("linearityiqa: the official weights (p1q2.pth) are on Google Drive / Baidu pan and "
                           f"cannot be downloaded automatically; fetch them from {LINEARITYIQA_WEIGHTS.url} and "
                           "pass weights=<path>, or pretrained=False for random weights")
    else:
        log.warning("linearityiqa built without weights (pretrained=False): scores are meaningless")
    return model.to(device).eval()
