"""Measuring generated images with classifiers trained on real ones — Chapters 4 and 6.

A GAN's samples can look fine and still ignore the prompt. We measure that with a
*probe*: a small CNN trained only on real images, which then reads generated ones.

* ``train_classifier`` — one-head CNN (Chapter 4: is the digit the class we asked for?).
* ``train_probe`` — five-head CNN on the shapes world (colour, shape, size, vertical and
  horizontal position). It is trained on renders of *every* combination, held-out pairs
  included: it is a measuring instrument, not the model under test.
* ``caption_fidelity`` — share of generated images whose every attribute the prompt
  names is read back by the probe. Plus per-attribute accuracy, within-prompt
  diversity and colour purity.
* ``FidelityLog`` / ``GeometryLog`` — the probe's table / the geometry check while training.
* ``probe_features`` — the probe's last shared layer on the unit sphere: a second learned
  feature space for FID and KID (Chapter 9, ``dalle_edu.measures``).
"""

from __future__ import annotations

import json
import time

import numpy as np
import keras

from dalle_edu import geometry, text
from dalle_edu.data import shapes
from dalle_edu.images import to_float

KEYS = ("color", "shape", "size", "vpos", "hpos")




def _cnn_trunk(inputs, width: int):
    from keras import layers

    x = inputs
    for i, w in enumerate((width, 2 * width, 4 * width)):  # (S, S) -> (S/8, S/8)
        x = layers.Conv2D(w, 3, strides=2, padding="same", name=f"conv{i}")(x)
        x = layers.LeakyReLU(0.2)(x)
    x = layers.Flatten()(x)  # keeps *where* things are: position heads need it
    return layers.Dense(128, activation="relu", name="features")(x)


def build_classifier(image_size: int, channels: int, num_classes: int, width: int = 16):
    """A small CNN with one softmax head (logits). Chapter 4."""
    import keras
    from keras import layers

    inputs = keras.Input((image_size, image_size, channels))
    logits = layers.Dense(num_classes, name="logits")(_cnn_trunk(inputs, width))
    return keras.Model(inputs, logits, name="classifier")


def train_classifier(images, labels, num_classes: int, epochs: int = 5, batch_size: int = 64,
                     seed: int = 0, verbose: int = 0):
    """Fit ``build_classifier`` on real images; returns the Keras model (logits out)."""
    import keras

    x = to_float(images)
    if x.ndim != 4:
        raise ValueError(f"images must be (N, H, W, C), got shape {x.shape}")
    keras.utils.set_random_seed(seed)
    model = build_classifier(x.shape[1], x.shape[3], num_classes)
    model.compile(keras.optimizers.Adam(1e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(x, np.asarray(labels), epochs=epochs, batch_size=batch_size, verbose=verbose)
    return model


def classify(model, images, batch_size: int = 256) -> np.ndarray:
    """Predicted class ids (N,) from a classifier with logits output."""
    return np.argmax(model.predict(to_float(images), batch_size=batch_size, verbose=0), axis=-1)


class Probe:
    """Reads the five attributes of shapes-world images (see ``train_probe``)."""

    def __init__(self, model):
        self.model = model
        self.values = shapes.VALUES

    def predict(self, images, batch_size: int = 256) -> list[dict]:
        out = self.model.predict(to_float(images), batch_size=batch_size, verbose=0)
        ids = {k: np.argmax(out[k], axis=-1) for k in KEYS}
        return [{k: self.values[k][int(ids[k][i])] for k in KEYS} for i in range(len(ids["color"]))]

    def features(self, images, batch_size: int = 256) -> np.ndarray:
        """The last layer the five heads share ("features", 128 ReLU units): (N, 128)."""
        if getattr(self, "_extractor", None) is None:  # built once: a new Model retraces predict
            self._extractor = keras.Model(self.model.input, self.model.get_layer("features").output,
                                          name="probe_features")
        return self._extractor.predict(to_float(images), batch_size=batch_size, verbose=0)

    def exact_match(self, images, attrs) -> float:
        """Share of images whose five attributes are all read correctly."""
        pred = self.predict(images)
        return float(np.mean([all(p[k] == a[k] for k in KEYS) for p, a in zip(pred, attrs)]))


def probe_features(probe: Probe, images, batch_size: int = 256) -> np.ndarray:
    """The probe's feature space for FID and KID (Chapter 9): ``Probe.features`` on the unit
    sphere, float32 (N, 128), like the mini-CLIP's image embeddings.

    Why normalise: on renders the raw activations have norm about 90, so KID's kernel
    (x·y/D + 1)³ is about 64³ and its variance swamps every difference (measured on raw
    activations, n=1,000: real-vs-real KID -70 and +790 against two reference sets, a
    shape-blind generator's -315). On the sphere x·y/D <= 1/D and KID is back near 0 for renders.
    """
    f = probe.features(images, batch_size=batch_size)                  # (N, 128), >= 0
    return f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)


def build_probe(image_size: int = 32, width: int = 16):
    import keras
    from keras import layers

    inputs = keras.Input((image_size, image_size, 3))
    h = _cnn_trunk(inputs, width)
    outputs = {k: layers.Dense(len(shapes.VALUES[k]), name=k)(h) for k in KEYS}
    return keras.Model(inputs, outputs, name="probe")


def probe_data(n: int, seed: int, size: int):
    """Real renders of uniformly random attributes over ALL combinations, with labels."""
    rng = np.random.default_rng([seed, 77])
    attrs = [{k: shapes.VALUES[k][rng.integers(len(shapes.VALUES[k]))] for k in KEYS}
             for _ in range(n)]
    images = shapes.render(attrs, seed=seed, size=size)
    labels = {k: np.array([shapes.VALUES[k].index(a[k]) for a in attrs]) for k in KEYS}
    return images, labels, attrs


def train_probe(size: int = 32, n: int = 30_000, epochs: int = 8, batch_size: int = 128,
                seed: int = 0, verbose: int = 0) -> Probe:
    """Train the five-head probe on real renders. Chapters 6 and 7 report its exact-match.

    Defaults: 0.9995 exact-match on 4,000 real `test` and `compositional` images after
    about 30 s on 2 CPU cores (see benchmarks/probe_accuracy.py).
    """
    import keras

    images, labels, _ = probe_data(n, seed, size)
    keras.utils.set_random_seed(seed)
    model = build_probe(size)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(keras.optimizers.Adam(2e-3), loss={k: loss for k in KEYS})
    model.fit(to_float(images), labels, epochs=epochs, batch_size=batch_size, verbose=verbose)
    return Probe(model)


def caption_fidelity(probe: Probe, images, wanted: list[dict]) -> dict:
    """Share of images whose every attribute named in ``wanted`` (e.g. ``parse(prompt)``)
    the probe reads back, and the per-attribute accuracy."""
    if len(images) != len(wanted):
        raise ValueError(f"{len(images)} images but {len(wanted)} attribute dicts")
    pred = probe.predict(images)
    ok = np.array([all(p[k] == w[k] for k in w) for p, w in zip(pred, wanted)])
    per_key = {k: float(np.mean([p[k] == w[k] for p, w in zip(pred, wanted) if k in w]))
               for k in KEYS if any(k in w for w in wanted)}
    return {"fidelity": float(ok.mean()) if len(ok) else float("nan"), **per_key}


def mean_pairwise_distance(images) -> float:
    """Average L2 distance between all pairs, in [-1, 1] pixel units (a diversity measure)."""
    x = to_float(images).reshape(len(images), -1)
    if len(x) < 2:
        raise ValueError("diversity needs at least 2 images")
    sq = (x**2).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0)
    iu = np.triu_indices(len(x), 1)
    return float(np.sqrt(d2[iu]).mean())


def color_masks(images, colors: list[str], tolerance: float = 0.25):
    """Per-pixel ``(far, lit)`` masks (N, S, S): ``dalle_edu.geometry.color_masks``, the one rule.

    A lit pixel (max channel > 20 % of full scale) is *near* when its colour, divided by
    its brightness, is within ``tolerance`` of the palette colour: the anti-aliased edge
    ``k * colour`` counts as near.
    """
    return geometry.color_masks(images, colors, tolerance)


def color_purity(images, colors: list[str], tolerance: float = 0.25) -> float:
    """Share of lit pixels whose colour is far from the asked-for palette colour (``color_masks``).

    Lower is better (target < 5 %).
    """
    far, lit = color_masks(images, colors, tolerance)
    return int(far.sum()) / max(int(lit.sum()), 1)


def position_counts(reads) -> np.ndarray:
    """(3, 3) how many probe readings (``Probe.predict``) fall in each (vertical, horizontal) cell."""
    cells = {}
    for r in reads:
        cells[(r["vpos"], r["hpos"])] = cells.get((r["vpos"], r["hpos"]), 0) + 1
    return np.array([[cells.get((v, h), 0) for h in shapes.HPOS] for v in shapes.VPOS])


def evaluate_model(model, probe, n: int = 1_000, seed: int = 0) -> dict:
    """Chapter 7's table for any model with ``generate(prompts, seed, n_per_prompt)``.

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
    real = shapes.render([attr] * 64, seed=seed, size=size)
    out["diversity_ratio"] = round(mean_pairwise_distance(fake) / mean_pairwise_distance(real), 3)
    return out


class FidelityLog(keras.callbacks.Callback):
    """Training-time evaluation, passed into training as a callback — Chapter 6.

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
    """The geometry check while training (pixels, no learning) — Chapters 6 and 10.

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
