"""Diffusion's maths: noise schedules, the forward process, the v-loss, DDPM and DDIM — Chapter 13.

A diffusion model (Sohl-Dickstein et al. 2015; Ho et al. 2020) learns to undo a fixed
process that buries data in Gaussian noise over T small steps. With
``alpha_bar_t = prod_{i<=t} (1 - beta_i)`` the forward process has a closed form at any
step (no need to run the t steps)::

    q(x_t | x_0) = N(sqrt(ab_t) x_0, (1 - ab_t) I)
    x_t = sqrt(ab_t) x_0 + sqrt(1 - ab_t) eps,        eps ~ N(0, I)

The network reads (x_t, t, caption) and predicts **v = sqrt(ab_t) eps - sqrt(1 - ab_t) x_0**
(Salimans & Ho 2022); from v both x_0 and eps follow exactly::

    x0_hat  = sqrt(ab_t) x_t - sqrt(1 - ab_t) v
    eps_hat = sqrt(1 - ab_t) x_t + sqrt(ab_t) v

The ELBO reduces, step by step, to a weighted squared error on eps (Ho et al.'s
"simple" loss drops the weights). In v's terms, ``|v^ - v|^2 = |eps^ - eps|^2 / ab_t =
|x0^ - x0|^2 / (1 - ab_t)``: x0's error weighted by 1 + SNR, finite at both ends, where
eps-prediction's x0 = (x_t - sqrt(1 - ab) eps^) / sqrt(ab) blows up as ab_t -> 0.
Chapter 13 derives both and checks them in numpy.

**Sampling.** DDIM's update (Song et al. 2021) from step t to an earlier step s, with
``eta`` in [0, 1]::

    sigma = eta * sqrt((1 - ab_s) / (1 - ab_t)) * sqrt(1 - ab_t / ab_s)
    x_s   = sqrt(ab_s) x0_hat + sqrt(1 - ab_s - sigma^2) eps_hat + sigma z

``eta = 0`` is deterministic (the same x_T always gives the same image); ``eta = 1``
with every step s = t - 1 is DDPM's ancestral sampler (sigma^2 = the posterior's
variance beta~_t). Either runs on any subsequence of the T steps (25 by default).

**Classifier-free guidance** (Ho & Salimans 2021): one network, trained with the
caption dropped 10 % of the time, predicts both ``v(x_t, caption)`` and ``v(x_t, -)``;
sampling uses ``v_u + w (v_c - v_u)``: ``w = 1`` is the plain conditional model, larger
``w`` pushes towards what the caption says at the cost of variety.

Everything here is ``keras.ops`` (works on numpy arrays and inside ``tf.function``);
the networks that predict v are in ``dalle_edu.models.unet``.
"""

from __future__ import annotations

import math

import numpy as np
from keras import ops

__all__ = ["SCHEDULES", "alpha_bar", "check_steps", "check_guidance", "q_sample", "v_target",
           "x0_eps_from_v", "v_loss", "timesteps", "ddim_step", "guide"]

SCHEDULES = ("cosine", "linear")


def alpha_bar(schedule: str = "cosine", T: int = 1_000) -> np.ndarray:
    """ab_t for t = 1..T as float64 (T,), decreasing from ~1 to ~0.

    ``linear``: Ho et al.'s beta_t from 1e-4 to 0.02 (ab_T = 4e-5). ``cosine``: Nichol &
    Dhariwal's ab_t = f(t) / f(0), f(t) = cos^2(((t / T) + s) / (1 + s) * pi / 2), s = 0.008,
    each beta clipped at 0.999: less of the chain is spent on near-pure noise.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
    if schedule == "linear":
        return np.cumprod(1.0 - np.linspace(1e-4, 0.02, T))
    s, t = 0.008, np.arange(T + 1) / T
    f = np.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    betas = np.clip(1.0 - f[1:] / f[:-1], 0.0, 0.999)
    return np.cumprod(1.0 - betas)


def check_steps(steps, T: int) -> int:
    """Sampling steps: an integer in [1, T]; anything else is a one-line ``ValueError``."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 1 <= steps <= T:
        raise ValueError(f"sampling steps must be an integer in [1, {T}], got {steps!r}")
    return int(steps)


def check_guidance(w) -> float:
    """A guidance scale: a number >= 0 (1 = no guidance, 0 = ignore the caption)."""
    if isinstance(w, bool) or not isinstance(w, (int, float, np.integer, np.floating)) \
            or not np.isfinite(w) or w < 0:
        raise ValueError(f"guidance must be a number >= 0 (1 = the conditional model alone, "
                         f"3 = the default), got {w!r}")
    return float(w)


def _col(a, like):
    """(B,) -> (B, 1, ..., 1), to scale a batch of any rank."""
    return ops.reshape(a, (-1,) + (1,) * (len(like.shape) - 1))


def q_sample(x0, ab, eps):
    """x_t = sqrt(ab) x0 + sqrt(1 - ab) eps; ``ab`` (B,) the batch's alpha_bar_t."""
    ab = _col(ops.cast(ab, x0.dtype), x0)
    return ops.sqrt(ab) * x0 + ops.sqrt(1.0 - ab) * eps


def v_target(x0, ab, eps):
    """v = sqrt(ab) eps - sqrt(1 - ab) x0, what the network learns to predict."""
    ab = _col(ops.cast(ab, x0.dtype), x0)
    return ops.sqrt(ab) * eps - ops.sqrt(1.0 - ab) * x0


def x0_eps_from_v(x_t, ab, v):
    """(x0_hat, eps_hat) from x_t and a predicted v (exact: a rotation by the angle of ab)."""
    ab = _col(ops.cast(ab, x_t.dtype), x_t)
    a, s = ops.sqrt(ab), ops.sqrt(1.0 - ab)
    return a * x_t - s * v, s * x_t + a * v


def v_loss(v_pred, v):
    """The simple loss: mean squared error between predicted and true v, over everything."""
    return ops.mean(ops.square(v_pred - v))


def timesteps(T: int, steps: int) -> np.ndarray:
    """``steps`` indices into the T-step chain, from T - 1 down to 0, evenly spaced (int32)."""
    steps = check_steps(steps, T)
    return np.round(np.linspace(T - 1, 0, steps)).astype("int32")


def ddim_step(x_t, v, ab_t, ab_s, eta: float = 0.0, z=None):
    """One DDIM update from x_t (at ab_t) to x_s (at ab_s > ab_t); scalars ab_t, ab_s.

    ``eta = 0``: deterministic; ``eta = 1`` with s = t - 1: DDPM's ancestral step.
    ``z``: standard normal noise like x_t (needed when eta > 0).
    """
    x0, eps = x0_eps_from_v(x_t, ops.full((ops.shape(x_t)[0],), ab_t), v)
    sigma = eta * math.sqrt((1 - ab_s) / (1 - ab_t) * (1 - ab_t / ab_s)) if eta else 0.0
    x_s = math.sqrt(ab_s) * x0 + math.sqrt(max(1 - ab_s - sigma ** 2, 0.0)) * eps
    if sigma:
        if z is None:
            raise ValueError("ddim_step with eta > 0 needs noise z")
        x_s = x_s + sigma * z
    return x_s


def guide(v_cond, v_uncond, w: float):
    """Classifier-free guidance: v_u + w (v_c - v_u); w = 1 is v_c."""
    return v_uncond + w * (v_cond - v_uncond)
