"""HyperIQA: Su, Yan, Zhu, Zhang, Ge, Sun, Zhang, "Blindly Assess Image Quality in the Wild Guided by
a Self-Adaptive Hyper Network", CVPR 2020.

Official code: github.com/SSL92/hyperIQA (``models.py``, ``demo.py``, ``HyerIQASolver.py``). The
official inference (``demo.py`` with the released KonIQ-10k model), reproduced in :class:`HyperIQA`:

1. ``transforms.Resize((512, 384))``: height 512, width 384, whatever the aspect ratio (KonIQ-10k's
   1024 x 768 landscape images become portrait), PIL bilinear;
2. ``RandomCrop(224)`` ``num_crops`` times (10 in ``demo.py``; ``--test_patch_num 25`` in
   ``train_test_IQA.py``), each crop ImageNet-normalised;
3. per crop, a ResNet-50 gives (a) the target network's input: local distortion aware (LDA) features
   of layers 1-3 (1 x 1 conv, 7 x 7 average pool, FC -> 16-d each) and of layer 4 (7 x 7 average pool,
   FC -> 176-d), 224-d in all, and (b) the hyper network's input: layer4's 7 x 7 map through three 1 x 1
   convolutions (2048 -> 1024 -> 512 -> 112, ReLU);
4. the hyper network generates the target network's weights (3 x 3 convolutions of the 112 x 7 x 7 map,
   reshaped) and biases (FC of its global average), paper Eq. 1-2;
5. the target network, FC 224 -> 112 -> 56 -> 28 -> 14 -> 1 with sigmoids between (none at the end),
   scores the crop; the image score is the mean over crops.

Scores: KonIQ-10k's ``MOS_zscore`` scale (about 0-100), higher is better.

Crops are drawn from ``self.generator`` in the official order (top, then left, per crop, like
``RandomCrop.get_params``); ``deterministic=True`` redraws them on every call from a fresh generator
seeded with ``seed`` (the official script run right after ``torch.manual_seed(seed)``).

Training: :meth:`HyperIQA.trainable_parameters` gives the optimiser's parameter groups of
``HyerIQASolver``. The official solver builds the hyper network's group from a ``filter`` object
(a one-shot iterator): the first Adam consumes it, and the optimisers it rebuilds after each epoch
get an empty group, so only epoch 1 trains the hyper network. ``official_bug=False`` (default)
gives the intended groups every epoch; ``official_bug=True`` reproduces the empty group.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from advqa.errors import InputError, WeightsError
from advqa.models.base import ImageQualityModel, ModelCard, WeightsSpec
from advqa.models.crops import crop_positions, normalise, resize_like_pil, take_crops
from advqa.models.registry import register

log = logging.getLogger(__name__)

__all__ = ["HYPERIQA_CARD", "HyperIQA", "HyperIQABackbone", "create_hyperiqa", "target_network"]

HYPERIQA_WEIGHTS = WeightsSpec(
    url="https://drive.google.com/file/d/1OOUmnbvpGea0LIGpIWEbOyxfWx6UCiiE/view?usp=sharing",
    sha256=None,
    filename="koniq_pretrained.pkl",
    licence="MIT (SSL92/hyperIQA)",
    notes="koniq_pretrained.pkl, trained on KonIQ-10k (the SSL92/hyperIQA README's Google Drive link; "
          "mirror on Baidu pan, password 1ty8). A Drive page, not a direct download: fetch it by hand "
          "and pass the local file as weights=. A plain state_dict of HyperNet (keys res.*, conv1.*, "
          "fc1w_conv.* ... fc5b_fc.*).",
)

HYPERIQA_CARD = ModelCard(
    name="hyperiqa",
    paper="Su, Yan, Zhu, Zhang, Ge, Sun, Zhang. Blindly Assess Image Quality in the Wild Guided by a "
          "Self-Adaptive Hyper Network. CVPR 2020",
    score_range=(0.0, 100.0),
    higher_is_better=True,
    input="any size; resized to 512 x 384 (H x W, PIL bilinear), mean of random 224 x 224 crops "
          "(10 as demo.py), ImageNet normalisation inside",
    weights=(HYPERIQA_WEIGHTS,),
    licence="MIT (SSL92/hyperIQA)",
    kind="image",
    notes="KonIQ-10k MOS_zscore scale (about 0-100). Random crops from model.generator (model.seed(n)); "
          "deterministic=True reseeds per call. Options: num_crops, resize (None = native size), "
          "deterministic, seed. trainable_parameters(epoch, official_bug=...) gives the official "
          "optimiser groups (official_bug=True: the hyper network is trained only in epoch 1).",
)


class HyperIQABackbone(nn.Module):
    """ResNet-50 with the LDA branches (official ``ResNetBackbone``; keys ``conv1.*``, ``layer1.*``,
    ..., ``lda1_pool.0.weight``, ``lda1_fc.*``, ..., ``lda4_fc.*``; no ``fc``).

    ``forward(x (N, 3, 224, 224) normalised)`` -> ``(layer4 map (N, 2048, 7, 7), LDA vector (N, 224))``.
    """

    def __init__(self, lda_out_channels: int = 16, target_in_size: int = 224) -> None:
        super().__init__()
        from torchvision.models import resnet50

        tv = resnet50(weights=None)
        self.conv1, self.bn1, self.relu, self.maxpool = tv.conv1, tv.bn1, tv.relu, tv.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = tv.layer1, tv.layer2, tv.layer3, tv.layer4
        self.lda1_pool = nn.Sequential(nn.Conv2d(256, 16, 1, bias=False), nn.AvgPool2d(7, stride=7))
        self.lda1_fc = nn.Linear(16 * 64, lda_out_channels)
        self.lda2_pool = nn.Sequential(nn.Conv2d(512, 32, 1, bias=False), nn.AvgPool2d(7, stride=7))
        self.lda2_fc = nn.Linear(32 * 16, lda_out_channels)
        self.lda3_pool = nn.Sequential(nn.Conv2d(1024, 64, 1, bias=False), nn.AvgPool2d(7, stride=7))
        self.lda3_fc = nn.Linear(64 * 4, lda_out_channels)
        self.lda4_pool = nn.AvgPool2d(7, stride=7)
        self.lda4_fc = nn.Linear(2048, target_in_size - 3 * lda_out_channels)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        n = x.shape[0]
        x = self.layer1(self.maxpool(self.relu(self.bn1(self.conv1(x)))))
        lda1 = self.lda1_fc(self.lda1_pool(x).reshape(n, -1))
        x = self.layer2(x)
        lda2 = self.lda2_fc(self.lda2_pool(x).reshape(n, -1))
        x = self.layer3(x)
        lda3 = self.lda3_fc(self.lda3_pool(x).reshape(n, -1))
        x = self.layer4(x)
        lda4 = self.lda4_fc(self.lda4_pool(x).reshape(n, -1))
        return x, torch.cat((lda1, lda2, lda3, lda4), dim=1)


def target_network(params: dict[str, Tensor]) -> Tensor:
    """The target network with per-image weights: ``q = W5 s(W4 s(W3 s(W2 s(W1 v + b1) + b2) + b3) + b4) + b5``
    (``s`` the sigmoid, ``v = target_in_vec``), a batched form of the official grouped convolutions -> ``(N,)``."""
    q = params["target_in_vec"].unsqueeze(-1)
    for i in range(1, 6):
        q = torch.baddbmm(params[f"fc{i}b"].unsqueeze(-1), params[f"fc{i}w"], q)
        if i < 5:
            q = torch.sigmoid(q)
    return q.reshape(-1)


class HyperIQA(ImageQualityModel):
    """HyperIQA on the image contract: ``(N, 3, H, W)`` in [0, 1] -> mean crop score ``(N,)``.

    State dict: the official ``HyperNet`` keys (``res.conv1.weight``, ..., ``conv1.0.weight``,
    ``fc1w_conv.weight``, ..., ``fc5b_fc.bias``), so the official checkpoint loads with ``strict=True``.

    Args:
        num_crops: random 224 x 224 crops per image (official ``demo.py``: 10; test protocol: 25).
        resize: ``(height, width)`` of the resize before cropping (official KonIQ-10k: ``(512, 384)``);
            ``None`` crops the image at its native size (the official LIVE Challenge / CSIQ setting).
        deterministic, seed: redraw the crops on every call from ``torch.Generator().manual_seed(seed)``
            (per image) instead of :attr:`generator`.
    """

    card = HYPERIQA_CARD
    stochastic = True
    chunk_size = 1
    crop_size = 224
    hyper_channels = 112
    #: the target network's layer sizes, input first
    target_sizes = (224, 112, 56, 28, 14, 1)

    def __init__(self, *, num_crops: int = 10, resize: tuple[int, int] | None = (512, 384),
                 deterministic: bool = False, seed: int = 0) -> None:
        super().__init__()
        if not isinstance(num_crops, int) or num_crops < 1:
            raise InputError(f"hyperiqa: num_crops must be a positive integer, got {num_crops!r}")
        if resize is not None:
            if len(tuple(resize)) != 2 or min(int(v) for v in resize) < self.crop_size:
                raise InputError(f"hyperiqa: resize must be (height, width), both >= {self.crop_size}, "
                                 f"or None, got {resize!r}")
            resize = (int(resize[0]), int(resize[1]))
        self.num_crops, self.resize = num_crops, resize
        self.deterministic, self.seed_value = bool(deterministic), int(seed)
        if self.deterministic:
            self.generator = None
        # the official HyperNet(16, 112, 224, 112, 56, 28, 14, 7), attribute order = state_dict order
        self.res = HyperIQABackbone(16, 224)
        # (the official global-average ``pool`` has no weights; ``pool`` is the video pooling here)
        self.conv1 = nn.Sequential(
            nn.Conv2d(2048, 1024, 1), nn.ReLU(inplace=True),
            nn.Conv2d(1024, 512, 1), nn.ReLU(inplace=True),
            nn.Conv2d(512, self.hyper_channels, 1), nn.ReLU(inplace=True))
        s, c = self.target_sizes, self.hyper_channels
        for i in range(1, 5):  # weights: 3x3 conv of the 7x7 map, (out*in/49) channels; biases: FC
            setattr(self, f"fc{i}w_conv", nn.Conv2d(c, s[i - 1] * s[i] // 49, 3, padding=1))
            setattr(self, f"fc{i}b_fc", nn.Linear(c, s[i]))
        self.fc5w_fc = nn.Linear(c, s[4])
        self.fc5b_fc = nn.Linear(c, 1)
        self.eval()

    def hyper_params(self, x: Tensor) -> dict[str, Tensor]:
        """The hyper network (paper Eq. 1-2) on normalised crops ``(N, 3, 224, 224)`` -> dict:
        ``target_in_vec (N, 224)`` and, for target layers ``i = 1..5``, weights ``fc{i}w (N, out_i, in_i)``
        and biases ``fc{i}b (N, out_i)`` (sizes 224-112-56-28-14-1)."""
        n = x.shape[0]
        feat, vec = self.res(x)
        if feat.shape[-2:] != (7, 7):
            raise InputError(f"hyperiqa: crops must be 224 x 224, got {tuple(x.shape[-2:])}")
        hyper = self.conv1(feat)
        pooled = hyper.mean(dim=(2, 3))
        s = self.target_sizes
        out = {"target_in_vec": vec}
        for i in range(1, 5):
            out[f"fc{i}w"] = getattr(self, f"fc{i}w_conv")(hyper).reshape(n, s[i], s[i - 1])
            out[f"fc{i}b"] = getattr(self, f"fc{i}b_fc")(pooled)
        out["fc5w"] = self.fc5w_fc(pooled).reshape(n, 1, s[4])
        out["fc5b"] = self.fc5b_fc(pooled)
        return out

    def crop_positions(self, height: int, width: int) -> list[tuple[int, int]]:
        """``num_crops`` ``(top, left)`` corners for a (resized) ``height x width`` image."""
        gen = torch.Generator().manual_seed(self.seed_value) if self.deterministic else self.generator
        return crop_positions(height, width, self.crop_size, self.num_crops, gen)

    def crop_scores(self, crops: Tensor) -> Tensor:
        """Scores of 224 x 224 crops ``(K, 3, 224, 224)`` in [0, 1] -> ``(K,)`` (normalisation inside)."""
        return target_network(self.hyper_params(normalise(crops)))

    def score_images(self, images: Tensor) -> Tensor:
        if self.resize is not None:
            images = resize_like_pil(images, self.resize)
        h, w = images.shape[-2:]
        if h < self.crop_size or w < self.crop_size:
            raise InputError(f"hyperiqa with resize=None needs images of at least {self.crop_size} x "
                             f"{self.crop_size} pixels, got {h} x {w}; keep the default resize")
        scores = [self.crop_scores(take_crops(img, self.crop_positions(h, w), self.crop_size)).mean()
                  for img in images]
        return torch.stack(scores)

    def trainable_parameters(self, epoch: int = 0, *, lr: float = 2e-5, lr_ratio: float = 10,
                             weight_decay: float = 5e-4, official_bug: bool = False) -> list[dict[str, Any]]:
        """Adam parameter groups for 0-based ``epoch`` as ``HyerIQASolver`` builds them.

        Epoch 0: hyper network (everything outside ``res``) at ``lr * lr_ratio``, backbone at ``lr``.
        After epoch ``t`` the solver rebuilds Adam for the next epoch with hyper network rate
        ``lr / 10 ** (t // 6)`` times ``lr_ratio`` (times 1 once ``t > 8``); the backbone keeps ``lr``.
        ``official_bug=True`` reproduces the empty hyper network group of every rebuilt optimiser
        (the exhausted ``filter`` iterator), so from epoch 1 on only the backbone trains.
        """
        if not isinstance(epoch, int) or epoch < 0:
            raise InputError(f"hyperiqa: epoch must be a non-negative integer, got {epoch!r}")
        backbone = list(self.res.parameters())
        ids = {id(p) for p in backbone}
        hyper = [p for p in self.parameters() if id(p) not in ids]
        if epoch == 0:
            hyper_lr = lr * lr_ratio
        else:
            t = epoch - 1
            hyper_lr = lr / 10 ** (t // 6) * (1 if t > 8 else lr_ratio)
            if official_bug:
                hyper = []
        return [{"params": hyper, "lr": hyper_lr, "weight_decay": weight_decay},
                {"params": backbone, "lr": lr, "weight_decay": weight_decay}]


@register("hyperiqa", HYPERIQA_CARD)
def create_hyperiqa(weights: str | Path | None = None, device: str | torch.device = "cpu", *,
                    pretrained: bool = True, num_crops: int = 10, resize: tuple[int, int] | None = (512, 384),
                    deterministic: bool = False, seed: int = 0) -> HyperIQA:
    """Build HyperIQA. ``weights``: the official ``koniq_pretrained.pkl`` (the official ``HyperNet``
    state_dict, loaded with ``strict=True``; path or URL). The official file is on Google Drive and must be
    fetched by hand, so ``weights=None`` raises unless ``pretrained=False`` (random weights, tests)."""
    model = HyperIQA(num_crops=num_crops, resize=resize, deterministic=deterministic, seed=seed)
    if weights is not None:
        from advqa.models import weights as W
        from advqa.models.checkpoints import official_state_dict

        W.load_into(model, official_state_dict(W.resolve(weights, HYPERIQA_WEIGHTS), model), strict=True)
    elif pretrained:
        raise WeightsError("hyperiqa: the official weights (koniq_pretrained.pkl) are on Google Drive and "
                           f"cannot be downloaded automatically; fetch {HYPERIQA_WEIGHTS.url} and pass "
                           "weights=<path>, or pretrained=False for random weights")
    else:
        log.warning("hyperiqa built without weights (pretrained=False): scores are meaningless")
    return model.to(device).eval()
