"""DBCNN: Zhang, Ma, Yan, Deng, Wang, "Blind Image Quality Assessment Using A Deep Bilinear
Convolutional Neural Network", IEEE TCSVT 2020.

Official code: github.com/zwx8981/DBCNN-PyTorch (``DBCNN.py``, ``SCNN.py``, ``simple_demo.py``).
The official inference, reproduced in :class:`DBCNN`:

1. the whole image at its native size (no resize, no crop), ``ToTensor`` and ImageNet ``Normalize``;
2. two branches: VGG-16's convolutional part without its last max-pool (``features1``, 512 channels,
   stride 16, pre-trained on ImageNet) and the S-CNN's convolutional part (``features2``, 128 channels,
   stride 16, pre-trained to classify synthetic distortions; ``pretrained_scnn/scnn.pkl``);
3. where the two maps differ in size (VGG's max-pools floor odd sizes, S-CNN's stride-2 convolutions
   round them up) the S-CNN map is resized to the VGG map's size with ``F.upsample_bilinear``
   (bilinear, ``align_corners=True``);
4. bilinear pooling (paper Eq. 3): ``B = X1 X2^T / (h w)`` -> 512 x 128 = 65536-d, then
   ``sqrt(B + 1e-8)`` and L2 normalisation;
5. ``fc``: Linear(65536, 1) -> the score in the training labels' scale.

There is no official trained DBCNN checkpoint: ``DBCNN.py`` trains ``fc`` on a dataset (LIVE: DMOS,
lower is better; LIVE Challenge: MOS 0-100, higher is better), then fine-tunes everything, saving
``nn.DataParallel`` state dicts (keys ``module.features1.*``, ``module.features2.*``, ``module.fc.*``).
:meth:`DBCNN.load_backbones` initialises the two branches as ``DBCNN.__init__`` does, from
torchvision's VGG-16 and the released ``scnn.pkl``.
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advqa.errors import InputError, WeightsError
from advqa.models.base import ImageQualityModel, ModelCard, WeightsSpec
from advqa.models.crops import normalise
from advqa.models.registry import register

log = logging.getLogger(__name__)

__all__ = ["DBCNN", "DBCNN_CARD", "SCNN_WEIGHTS", "VGG16_WEIGHTS", "create_dbcnn", "scnn_features", "vgg16_features"]

SCNN_WEIGHTS = WeightsSpec(
    url="https://github.com/zwx8981/DBCNN-PyTorch/raw/master/pretrained_scnn/scnn.pkl",
    sha256="7ea73d75539cefcf4953800a896e024ea1a3216de2392f242810b113fd940a42",
    filename="scnn.pkl",
    licence="MIT (zwx8981/DBCNN-PyTorch)",
    notes="the released S-CNN (features2 branch initialisation): nn.DataParallel state dict of SCNN "
          "(module.features.*, module.projection.*, module.classifier.*), saved before PyTorch 0.4.1 "
          "(no num_batches_tracked), 2585667 bytes",
)

VGG16_WEIGHTS = WeightsSpec(
    url="https://download.pytorch.org/models/vgg16-397923af.pth",
    sha256=None,
    filename="vgg16-397923af.pth",
    licence="BSD-3-Clause (torchvision)",
    notes="ImageNet VGG-16 (features1 branch initialisation), what vgg16(pretrained=True) loads",
)

DBCNN_CARD = ModelCard(
    name="dbcnn",
    paper="Zhang, Ma, Yan, Deng, Wang. Blind Image Quality Assessment Using A Deep Bilinear Convolutional "
          "Neural Network. IEEE TCSVT 2020",
    score_range=(0.0, 100.0),
    higher_is_better=True,
    input="whole image at native size (at least 16 x 16), ImageNet normalisation inside",
    weights=(SCNN_WEIGHTS, VGG16_WEIGHTS),
    licence="MIT (zwx8981/DBCNN-PyTorch); VGG-16 weights BSD-3-Clause (torchvision)",
    kind="image",
    notes="No trained DBCNN checkpoint is released: pass one trained with the official DBCNN.py as "
          "weights= (module. prefixes are stripped). Scale = the training labels: LIVE Challenge MOS "
          "(0-100, higher is better); a LIVE-trained model predicts DMOS (lower is better). The listed "
          "files initialise the two branches (DBCNN.load_backbones).",
)


def vgg16_features() -> nn.Sequential:
    """VGG-16's convolutional layers without the last max-pool: torchvision's ``vgg16().features[:-1]``
    (configuration D, indices 0-29, same key names), built without its 138M-parameter classifier."""
    layers: list[nn.Module] = []
    c_in = 3
    for v in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512):
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(c_in, int(v), 3, padding=1), nn.ReLU(inplace=True)]
            c_in = int(v)
    return nn.Sequential(*layers)


def scnn_features() -> nn.Sequential:
    """The S-CNN's convolutional layers: nine 3 x 3 conv + BatchNorm + ReLU, channels
    48-48-64-64-64-64-128-128-128, stride 2 in the 2nd, 4th, 6th and 9th."""
    layers: list[nn.Module] = []
    c_in = 3
    for c_out, stride in ((48, 1), (48, 2), (64, 1), (64, 2), (64, 1), (64, 2), (128, 1), (128, 1), (128, 2)):
        layers += [nn.Conv2d(c_in, c_out, 3, stride, 1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
        c_in = c_out
    return nn.Sequential(*layers)


class DBCNN(ImageQualityModel):
    """DBCNN on the image contract: ``(N, 3, H, W)`` in [0, 1] -> ``(N,)``.

    State dict: ``features1.*`` (VGG-16 conv layers), ``features2.*`` (S-CNN conv layers), ``fc.*``:
    the official ``DBCNN`` module's keys (its checkpoints add a ``module.`` prefix).
    """

    card = DBCNN_CARD
    chunk_size = 4
    min_size = 16

    def __init__(self) -> None:
        super().__init__()
        self.features1 = vgg16_features()
        self.features2 = scnn_features()
        self.fc = nn.Linear(512 * 128, 1)
        self.eval()

    def bilinear_features(self, images: Tensor) -> Tensor:
        """Images ``(N, 3, H, W)`` in [0, 1] -> normalised bilinear features ``(N, 65536)`` (steps 1-4)."""
        h, w = images.shape[-2:]
        if h < self.min_size or w < self.min_size:
            raise InputError(f"dbcnn needs images of at least {self.min_size} x {self.min_size} pixels, "
                             f"got {h} x {w}")
        x = normalise(images)
        x1 = self.features1(x)
        x2 = self.features2(x)
        if x1.shape[-2:] != x2.shape[-2:]:
            x2 = F.interpolate(x2, size=x1.shape[-2:], mode="bilinear", align_corners=True)
        n, hw = x1.shape[0], x1.shape[-2] * x1.shape[-1]
        b = torch.bmm(x1.reshape(n, 512, hw), x2.reshape(n, 128, hw).transpose(1, 2)) / hw
        return F.normalize(torch.sqrt(b.reshape(n, -1) + 1e-8), dim=1)

    def score_images(self, images: Tensor) -> Tensor:
        return self.fc(self.bilinear_features(images)).reshape(-1)

    def load_backbones(self, scnn: str | Path | None = None, vgg: str | Path | None = None) -> DBCNN:
        """Initialise the branches as the official ``DBCNN.__init__``: ``features2`` from the released
        S-CNN file (``scnn.pkl``, ``None`` = its URL) and ``features1`` from torchvision's ImageNet
        VGG-16 (``None`` = its URL). ``fc`` is left as it is (the official code trains it next)."""
        from advqa.models import weights as W
        from advqa.models.checkpoints import fill_batchnorm_counters, official_state_dict

        state = official_state_dict(W.resolve(scnn, SCNN_WEIGHTS), nn.Module())  # "module." stripped
        feats = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
        if not feats:
            raise WeightsError("the S-CNN file has no features.* entries; pass the official scnn.pkl")
        W.load_into(self.features2, fill_batchnorm_counters(feats, self.features2), strict=True)
        vgg_state = W.load_state_dict(W.resolve(vgg, VGG16_WEIGHTS))
        W.load_into(self.features1, {k[len("features."):]: v for k, v in vgg_state.items()
                                     if k.startswith("features.")}, strict=True)
        return self


@register("dbcnn", DBCNN_CARD)
def create_dbcnn(weights: str | Path | None = None, device: str | torch.device = "cpu", *,
                 pretrained: bool = True) -> DBCNN:
    """Build DBCNN. ``weights``: a DBCNN state dict trained with the official ``DBCNN.py`` (path or URL;
    ``module.`` prefixes of ``nn.DataParallel`` files are stripped; ``strict=True``). No trained
    checkpoint is released, so ``weights=None`` raises unless ``pretrained=False`` (random weights)."""
    model = DBCNN()
    if weights is not None:
        from advqa.models import weights as W
        from advqa.models.checkpoints import official_state_dict

        W.load_into(model, official_state_dict(W.resolve(weights), model), strict=True)
    elif pretrained:
        raise WeightsError("dbcnn: no trained DBCNN checkpoint is released by the official code; train one "
                           "with its DBCNN.py and pass weights=<path>, or pretrained=False for random weights "
                           "(DBCNN().load_backbones() loads the released S-CNN and ImageNet VGG-16 branches)")
    else:
        log.warning("dbcnn built without weights (pretrained=False): scores are meaningless")
    return model.to(device).eval()
