"""The FGSM family with the settings of the MSU metrics robustness benchmark (Antsiferova et al.,
"Comparing the Robustness of Modern No-Reference Image- and Video-Quality Metrics to Adversarial
Attacks", AAAI 2024).

All four run on :class:`advqa.attacks.whitebox.GradientAttack` (the loop PGD uses) on the whole
video; their default loss is the benchmark's ``"up"`` (``1 - f/range``: raise the score) and their
default budget Linf 10/255. With an ``l2`` threat the sign step becomes a per-frame
RMS-normalised step of the same size.

=========  ==========  =================  ========  ========================================
attack     iterations  step               momentum  projection
=========  ==========  =================  ========  ========================================
FGSM       1           eps (10/255)       -         -
I-FGSM     10          1/255              -         onto eps after every step
MI-FGSM    10          1/255              1.0       onto eps after every step
AMI-FGSM   10          eps / iterations   1.0       none needed (10 steps of eps/10), clamp only
=========  ==========  =================  ========  ========================================

Early stopping is off by default (the benchmark measures the gain after a fixed number of steps);
``stop_gain=`` (a relative gain) or ``early_stop=True`` with a ``target`` turns it on.

Momentum accumulates raw gradients, ``acc = g + mu * acc``, as the benchmark's code does (Dong et
al. divide ``g`` by its mean absolute value first: ``normalize_momentum=True``).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from torch import Tensor

from advqa.attacks.whitebox import GradientAttack
from advqa.threat import ThreatModel

#: The MSU benchmark's default budget for the FGSM family (Linf, pixel units).
DEFAULT_EPS = 10 / 255


class FGSM(GradientAttack):
    """Fast gradient sign method (Goodfellow et al. 2015): one step of size eps. Queries: 1."""

    name: ClassVar[str] = "fgsm"
    summary: ClassVar[str] = "Goodfellow et al. (ICLR 2015): one signed gradient step of eps"
    default_eps: ClassVar[float] = DEFAULT_EPS
    default_early_stop: ClassVar[bool] = False

    def __init__(self, threat: ThreatModel | None = None, *, loss: str | Callable[..., Tensor] = "up",
                 chunked: bool | None = None, eot: int = 1, early_stop: bool | None = None,
                 stop_gain: float | None = None, seed: int | None = 0) -> None:
        super().__init__(threat, loss=loss, iterations=1, chunked=chunked, eot=eot, early_stop=early_stop,
                         stop_gain=stop_gain, seed=seed)

    def step_size(self) -> float:
        return self.threat.eps


class IFGSM(GradientAttack):
    """Iterative FGSM (Kurakin et al. 2017): ``iterations`` sign steps of ``step``, projected onto eps."""

    name: ClassVar[str] = "ifgsm"
    summary: ClassVar[str] = "Kurakin et al. (ICLR 2017): 10 sign steps of 1/255, projected"
    default_eps: ClassVar[float] = DEFAULT_EPS
    default_early_stop: ClassVar[bool] = False

    def __init__(self, threat: ThreatModel | None = None, *, loss: str | Callable[..., Tensor] = "up",
                 iterations: int = 10, step: float = 1 / 255, chunked: bool | None = None,
                 eot: int = 1, early_stop: bool | None = None, stop_gain: float | None = None,
                 seed: int | None = 0) -> None:
        super().__init__(threat, loss=loss, iterations=iterations, step=step, chunked=chunked, eot=eot,
                         early_stop=early_stop, stop_gain=stop_gain, seed=seed)


class MIFGSM(GradientAttack):
    """Momentum iterative FGSM (Dong et al. 2018): I-FGSM on accumulated gradients, momentum 1.0."""

    name: ClassVar[str] = "mifgsm"
    summary: ClassVar[str] = "Dong et al. (CVPR 2018): I-FGSM with momentum 1.0"
    default_eps: ClassVar[float] = DEFAULT_EPS
    default_early_stop: ClassVar[bool] = False

    def __init__(self, threat: ThreatModel | None = None, *, loss: str | Callable[..., Tensor] = "up",
                 iterations: int = 10, step: float = 1 / 255, momentum: float = 1.0,
                 normalize_momentum: bool = False, chunked: bool | None = None, eot: int = 1,
                 early_stop: bool | None = None, stop_gain: float | None = None, seed: int | None = 0) -> None:
        super().__init__(threat, loss=loss, iterations=iterations, step=step, momentum=momentum,
                         normalize_momentum=normalize_momentum, chunked=chunked, eot=eot, early_stop=early_stop,
                         stop_gain=stop_gain, seed=seed)


class AMIFGSM(GradientAttack):
    """MI-FGSM whose step adapts to the budget, ``eps / iterations``, with no per-step projection.

    As in the benchmark's code: the frames themselves are updated and clamped to [0, 1]; ``iterations``
    steps of ``eps / iterations`` cannot leave the budget (the base class still enforces it).
    """

    name: ClassVar[str] = "amifgsm"
    summary: ClassVar[str] = "MI-FGSM with steps of eps / iterations (MSU benchmark)"
    default_eps: ClassVar[float] = DEFAULT_EPS
    default_early_stop: ClassVar[bool] = False

    def __init__(self, threat: ThreatModel | None = None, *, loss: str | Callable[..., Tensor] = "up",
                 iterations: int = 10, momentum: float = 1.0, normalize_momentum: bool = False,
                 chunked: bool | None = None, eot: int = 1, early_stop: bool | None = None,
                 stop_gain: float | None = None, seed: int | None = 0) -> None:
        super().__init__(threat, loss=loss, iterations=iterations, momentum=momentum,
                         normalize_momentum=normalize_momentum, project_each_step=False, chunked=chunked,
                         eot=eot, early_stop=early_stop, stop_gain=stop_gain, seed=seed)

    def step_size(self) -> float:
        return self.threat.eps / self.iterations


__all__ = ["AMIFGSM", "DEFAULT_EPS", "FGSM", "IFGSM", "MIFGSM"]
