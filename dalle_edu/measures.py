"""Measuring a text-to-image model against the renders — Chapters 7, 8 and 10.

It reads pictures with ``dalle_edu.geometry`` (pixels, no learning) and ``dalle_edu.probe``
(a CNN trained on renders), and compares features with ``dalle_edu.metrics``.

A *generator* here is any function ``(captions, attrs, seed) -> uint8 (N, S, S, 3)``
(``attrs``: what each caption says, ``text.parse`` of it, so possibly partial):
a trained model (``from_model``), the renderer itself (``real``, the floor every measure
is read against) or a deliberately broken one (``dalle_edu.data.broken``). ``measure``
gives every number of the chapter's table for one generator:

* **text-image agreement** — the geometry check (``dalle_edu.geometry``: pixels, no
  learning) and the probe (a CNN trained on renders) on test and held-out-pair prompts;
  R-precision (the true caption among 99 of other meanings) and the CLIP score, both
  read by the mini-CLIP;
* **the distribution** — FID and KID in the mini-CLIP's image space (64-D) against renders
  of other test prompts, and k-NN precision / recall; with a probe, FID and KID again in a
  second learned space, the probe's last shared layer (``probe.probe_features``:
  128-D, on the unit sphere). Two spaces, because each sees only what its network learned
  to tell apart. D = 128 means n = 1,000 < 10·D: ``metrics.fid`` warns that FID is biased
  upward there (its real-vs-real floor is not 0), so compare ``fid_probe`` only at equal n;
  KID is unbiased;
* **variety where the prompt leaves room** — within-prompt diversity of partial prompts
  ("a red circle") against renders of the same prompts;
* **pixels** — off-palette share and shape fit.

``rerank`` is DALL·E's last stage: draw k samples per prompt, keep the one the mini-CLIP
scores highest.

Chapter 8's table, for a model with ``generate(prompts, seed, n_per_prompt)`` and a probe,
is ``evaluate_model`` (caption fidelity, partial captions, positions covered, diversity of
one full prompt, ``color_purity``; helpers ``mean_pairwise_distance``, ``position_counts``);
``FidelityLog`` / ``GeometryLog`` take that table / the geometry check while training.
"""

from __future__ import annotations

import json
import time

import keras
import numpy as np

from dalle_edu import geometry, metrics, text
from dalle_edu.data import broken, shapes
from dalle_edu.images import to_float
from dalle_edu.probe import caption_fidelity, probe_features
from dalle_edu.t2i.model import check_count

MIN_N = 200  # R-precision needs 99 captions of *other* meanings per prompt (n=100 falls short)
# partial prompts for within-prompt diversity: 8 colour/shape pairs, size and place free
DIVERSITY_PROMPTS = ("a red circle", "a green square", "a blue triangle", "a yellow diamond",
                     "a magenta circle", "a cyan square", "a white triangle", "an orange diamond")


def real(size: int = 32):
    """The renderer as a generator: the floor (a perfect model would score like this).

    What a prompt leaves free (size, position) is drawn at random, as the world does.
    """
    def generate(captions, attrs, seed):
        return shapes.render(_fill_free(attrs, seed), seed=seed + 1_000, size=size)
    return generate


def from_model(model, **kwargs):
    """A model with ``generate(prompts, seed)`` as a generator (kwargs go to ``generate``)."""
    def generate(captions, attrs, seed):
        return model.generate(captions, seed=seed, **kwargs)
    return generate


def from_broken(name: str, size: int = 32):
    """One of ``dalle_edu.data.broken.BROKEN`` as a generator."""
    fn = broken.BROKEN[name]
    return lambda captions, attrs, seed: fn(attrs, seed=seed, size=size)


def _prompt_set(split: str, n: int, seed: int, size: int, partial: float = 0.0):
    images, captions, attrs = shapes.sample(n, split, seed=seed, size=size, partial=partial)
    wanted = [text.parse(c) for c in captions]  # what each caption says (size/pos may be free)
    return images, captions, wanted


def _fill_free(wanted: list[dict], seed: int) -> list[dict]:
    """Attribute dicts with the keys a prompt leaves free drawn at random (for renders)."""
    rng = np.random.default_rng([seed, 3])
    return [{k: w.get(k, shapes.VALUES[k][rng.integers(len(shapes.VALUES[k]))])
             for k in shapes.KEYS} for w in wanted]


def measure(generator, clip, probe=None, n: int = 1_000, seed: int = 0, size: int = 32,
            reference: dict | None = None) -> dict:
    """Every measure of Chapter 10's table for one generator (see the module docstring).

    ``reference``: the output of ``reference_features`` (renders of other test prompts),
    computed once and shared by all generators; built here if None. With a ``probe`` it
    must hold the probe's features too (``reference_features(..., probe=probe)``).
    """
    if n < MIN_N:
        raise ValueError(f"measure needs n >= {MIN_N} prompts: R-precision draws 99 distractor "
                         f"captions of other meanings for each one; got n={n}")
    ref = reference or reference_features(clip, n, seed, size, probe=probe)
    if probe is not None and "probe_features" not in ref:
        raise ValueError("measure with a probe needs the probe's features of the reference "
                         "renders: build the reference with reference_features(..., probe=probe)")
    out = {}
    for split in ("test", "compositional"):
        _, captions, wanted = _prompt_set(split, n, seed + 7, size)
        fake = generator(captions, wanted, seed)
        geo = geometry.fidelity(fake, wanted)
        out[f"geometry_{split}"] = geo["fidelity"]
        out[f"strict_{split}"] = geo["strict"]
        if probe is not None:
            out[f"probe_{split}"] = caption_fidelity(probe, fake, wanted)["fidelity"]
        if split == "test":
            feats, txt = clip.encode_images(fake), clip.encode_text(captions)
            groups = [tuple(sorted(w.items())) for w in wanted]
            out["r_precision"] = metrics.r_precision(feats, txt, groups=groups, seed=seed)
            out["clip_score"] = float(metrics.clip_score_from_embeddings(feats, txt).mean())
            out["fid"] = metrics.fid(feats, ref["features"])
            out["kid_x1000"] = 1_000 * metrics.kid(feats, ref["features"], seed=seed)[0]
            if probe is not None:  # the same two measures in the probe's feature space
                pf = probe_features(probe, fake)                             # (N, 128)
                out["fid_probe"] = metrics.fid(pf, ref["probe_features"])
                out["kid_probe_x1000"] = 1_000 * metrics.kid(pf, ref["probe_features"],
                                                             seed=seed)[0]
            pr = metrics.precision_recall(ref["features"], feats, k=3)
            out["precision"], out["recall"] = pr["precision"], pr["recall"]
            out["off_palette"] = geo["off_palette"]
            out["shape_fit"] = geo["shape_fit"]
    out["diversity_ratio"] = diversity_ratio(generator, seed=seed, size=size)
    return {k: round(float(v), 4) for k, v in out.items()}


def reference_features(clip, n: int = 1_000, seed: int = 0, size: int = 32, probe=None) -> dict:
    """Features of renders of *other* test prompts: what FID/KID compare with.

    ``{"features": mini-CLIP (n, 64)}``, plus ``"probe_features"`` (n, 128) of the same
    renders when a probe is given.
    """
    images, _, _ = shapes.sample(n, "test", seed=seed + 8, size=size)
    ref = {"features": clip.encode_images(images)}
    if probe is not None:
        ref["probe_features"] = probe_features(probe, images)
    return ref


def diversity_ratio(generator, n_per_prompt: int = 32, seed: int = 0, size: int = 32) -> float:
    """Mean within-prompt pairwise distance of the generator's samples / that of renders.

    The prompts leave size and position free, so renders vary a lot: a model that draws
    one picture per prompt scores near 0, one as varied as the world near 1.
    """
    ratios = []
    for i, prompt in enumerate(DIVERSITY_PROMPTS):
        wanted = [text.parse(prompt)] * n_per_prompt
        fake = generator([prompt] * n_per_prompt, wanted, seed + i)
        renders = shapes.render(_fill_free(wanted, seed + i), seed=seed + i, size=size)
        ratios.append(mean_pairwise_distance(fake) / mean_pairwise_distance(renders))
    return float(np.mean(ratios))


def rerank(model, clip, prompts, k: int, seed: int = 0) -> np.ndarray:
    """DALL·E's reranking: k samples per prompt, keep the one the mini-CLIP scores highest.

    Returns uint8 (N, S, S, 3), one image per prompt. ``k=1`` is plain sampling.
    """
    k = check_count(k, "rerank k")
    parsed = text.prompts(prompts)
    images = model.generate(parsed, seed=seed, n_per_prompt=int(k))  # (N * k, S, S, 3)
    if k == 1:
        return images
    scores = clip.score(images, [p for p in parsed for _ in range(k)]).reshape(len(parsed), k)
    best = np.argmax(scores, axis=1)  # (N,)
    return images.reshape(len(parsed), k, *images.shape[1:])[np.arange(len(parsed)), best]


def rerank_curve(model, clip, ks=(1, 4, 16), n: int = 500, seed: int = 0, size: int = 32) -> list:
    """Geometry fidelity (test and held-out pairs) and seconds per image against k."""
    rows = []
    for k in ks:
        row = {"k": int(k)}
        for split in ("test", "compositional"):
            _, captions, wanted = _prompt_set(split, n, seed + 7, size)
            t = time.perf_counter()
            images = rerank(model, clip, captions, k, seed=seed)
            row[f"ms_per_image_{split}"] = round(1_000 * (time.perf_counter() - t) / n, 2)
            row[f"geometry_{split}"] = round(geometry.fidelity(images, wanted)["fidelity"], 4)
        rows.append(row)
    return rows


def mean_pairwise_distance(images) -> float:
    """Average L2 distance between all pairs, in [-1, 1] pixel units (a diversity measure)."""
    x = to_float(images).reshape(len(images), -1)
    if len(x) < 2:
        raise ValueError("diversity needs at least 2 images")
    sq = (x**2).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0)
    iu = np.triu_indices(len(x), 1)
    return float(np.sqrt(d2[iu]).mean())


def color_purity(images, colors: list[str], tolerance: float = geometry.TOLERANCE) -> float:
    """Share of lit pixels whose colour is far from the asked-for palette colour.

    ``geometry.color_masks`` is the rule: a lit pixel (max channel > 20 % of full scale) is
    *near* when its colour, divided by its brightness, is within ``tolerance`` of the
    palette colour, so the anti-aliased edge ``k * colour`` counts as near. Lower is
    better (target < 5 %).
    """
    far, lit = geometry.color_masks(images, colors, tolerance)
    return int(far.sum()) / max(int(lit.sum()), 1)


def position_counts(reads) -> np.ndarray:
    """(3, 3) how many probe readings (``Probe.predict``) fall in each (vertical, horizontal) cell."""
    cells = {}
    for r in reads:
        cells[(r["vpos"], r["hpos"])] = cells.get((r["vpos"], r["hpos"]), 0) + 1
    return np.array([[cells.get((v, h), 0) for h in shapes.HPOS] for v in shapes.VPOS])


def evaluate_model(model, probe, n: int = 1_000, seed: int = 0) -> dict:
    """Chapter 8's table for any model with ``generate(prompts, seed, n_per_prompt)``.

    Caption fidelity on the test and compositional splits, partial-caption fidelity,
    positions covered by 64 samples of "a red circle" (and by the GAN alone, where the
    model can switch its attribute sampler off), diversity ratio and colour purity.
    """
    size = int(model.generate(["a red circle"], seed=0).shape[1])
    out = {}
    for split in ("test", "compositional"):
        _, captions, attrs = shapes.sample(n, split, seed=seed + 7, size=size)
        prompts = text.prompts(captions)  # parsed once
        images = model.generate(prompts, seed=seed)
        out[split] = round(caption_fidelity(probe, images, [p.attrs for p in prompts])["fidelity"], 4)
        if split == "test":
            out["purity_far"] = round(color_purity(images, [a["color"] for a in attrs]), 4)
    # partial captions (size and/or position left out): are the named attributes drawn?
    _, captions, _ = shapes.sample(n, "test", seed=seed + 7, size=size, partial=1.0)
    prompts = text.prompts(captions)
    images = model.generate(prompts, seed=seed)
    out["partial"] = round(caption_fidelity(probe, images, [p.attrs for p in prompts])["fidelity"], 4)
    # how many of the 9 positions do 64 samples of "a red circle" cover (and the GAN alone)?
    for key, fill in (("positions_of_9", True), ("positions_of_9_gan_only", False)):
        kw = {} if fill else {"sample_unsaid": False}
        try:
            images = model.generate(["a red circle"], seed=seed, n_per_prompt=64, **kw)
        except TypeError:  # a model without an attribute sampler
            continue
        out[key] = int((position_counts(probe.predict(images)) > 0).sum())
    # diversity: samples of one full prompt vs real renders of the same attributes
    attr = dict(color="yellow", shape="triangle", size="big", vpos="middle", hpos="center")
    fake = model.generate([shapes.caption(attr)], seed=seed, n_per_prompt=64)
    renders = shapes.render([attr] * 64, seed=seed, size=size)
    out["diversity_ratio"] = round(mean_pairwise_distance(fake) / mean_pairwise_distance(renders), 3)
    return out


class FidelityLog(keras.callbacks.Callback):
    """Training-time evaluation, passed into training as a callback — Chapter 7.

    Every ``every_n_epochs`` epochs, evaluates ``self.model.sampler`` (set by
    ``t2i.train``) with ``evaluate_model`` and appends a row with the step and the
    training seconds so far (evaluation time not counted) to ``self.rows``.
    """

    def __init__(self, probe, every_n_epochs: int = 1, n: int = 500, verbose: bool = True):
        super().__init__()
        self.probe, self.every, self.n, self.verbose = probe, int(every_n_epochs), int(n), verbose
        self.rows, self.train_seconds = [], 0.0

    def on_train_begin(self, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.train_seconds += time.perf_counter() - self._t0
        if (epoch + 1) % self.every == 0:
            row = {"step": int(self.model.step.numpy()), "train_seconds": round(self.train_seconds, 1),
                   **evaluate_model(self.model.sampler, self.probe, n=self.n)}
            self.rows.append(row)
            if self.verbose:
                print(json.dumps(row), flush=True)
        self._t0 = time.perf_counter()


class GeometryLog(keras.callbacks.Callback):
    """The geometry check while training (pixels, no learning) — Chapters 7 and 12.

    Every ``every`` epochs (500 steps each in ``t2i.train`` and ``t2i.train_dalle``),
    draws one image for each of ``n`` test prompts and ``n`` held-out-pair prompts with
    ``self.model.sampler`` and appends ``{"step", "test", "compositional"}`` (the share
    read right) to ``self.rows``; ``self.seconds`` is the time spent here, so callers can
    leave it out of the training time. ``measure(model, step)`` adds a row by hand.
    """

    def __init__(self, every: int = 1, n: int = 200, seed: int = 11, size: int = 32,
                 verbose: bool = True):
        super().__init__()
        self.every, self.verbose, self.rows, self.seconds = int(every), verbose, [], 0.0
        # (captions, attributes) per split; "compositional" = the held-out pairs
        self.prompts = {split: shapes.sample(n, split, seed=seed, size=size)[1:]
                        for split in ("test", "compositional")}

    def measure(self, model, step) -> dict:
        t0, row = time.perf_counter(), {"step": int(step)}
        for split, (captions, attrs) in self.prompts.items():
            row[split] = round(geometry.fidelity(model.generate(captions, seed=0), attrs)["fidelity"], 3)
        self.rows.append(row)
        self.seconds += time.perf_counter() - t0
        if self.verbose:
            print(json.dumps(row), flush=True)
        return row

    def on_epoch_end(self, epoch, logs=None):
        if self.every and (epoch + 1) % self.every == 0:
            self.measure(self.model.sampler, self.model.step.numpy())
