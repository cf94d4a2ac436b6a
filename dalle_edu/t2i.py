"""The simple DALL·E: a text-conditional GAN on the shapes world — Chapter 6.

A text-to-image GAN in the spirit of Reed et al. (2016), *not* OpenAI's DALL·E (a
discrete VAE plus an autoregressive transformer with CLIP reranking). Pieces:

* **Text encoder** (``build_text_encoder``): word embeddings *summed* over the prompt,
  then linear heads that read the five attributes — with an extra "unsaid" class for
  size and position, so "a red circle" says that size and position are free. A sum of
  word vectors followed by linear maps is additive by construction, so it reads "green
  triangle" right although that pair never occurs in training (an MLP on the same bag
  of words reads the held-out shapes at chance: see ``benchmarks/t2i_fidelity.py``).
  It is pretrained in seconds on training captions and then frozen; the GAN's
  condition is its reading, a (B, 23) vector of per-attribute probabilities.
* **Generator**: DCGAN with conditional BatchNorm (FiLM) from that vector.
* **Discriminator**: DCGAN with a projection head (Miyato & Koyama 2018) and an
  auxiliary classifier head that names the five attributes (TAC-GAN, Dash et al. 2017).
* **Training** (``TextToImageGAN``): hinge loss; the matching-aware term of Reed et al.
  (a real image with a mismatched caption is scored as fake); the auxiliary loss (D
  learns to name the attributes of *real* images; G is rewarded when D reads the
  attributes its prompt names); optionally GAN-INT (G also trained on interpolated
  captions) and a mode-seeking term (MSGAN); an EMA of the generator, which is the one
  we sample from.
* **Sampling what the prompt leaves free** (``generate(..., sample_unsaid=True)``): a
  conditional GAN tends to ignore its noise, and ours draws "a red circle" in one place
  only. So before drawing, each attribute the prompt leaves unsaid is picked at random
  (uniformly, from the seed) and written into the condition: a two-stage sampler,
  p(attributes | text) then p(image | attributes). ``sample_unsaid=False`` shows the
  GAN alone.

Shapes: z (B, latent); condition (B, COND_DIM); images (B, S, S, 3) in [-1, 1].
"""

from __future__ import annotations

import dataclasses
import json
import time
import warnings
from pathlib import Path

import numpy as np

from dalle_edu import text
from dalle_edu.data import shapes

UNSAID = "unsaid"
# the encoder's heads: colour and shape are always named; size and position may be unsaid
HEADS = {
    "color": shapes.VALUES["color"],
    "shape": shapes.VALUES["shape"],
    "size": shapes.VALUES["size"] + (UNSAID,),
    "vpos": shapes.VALUES["vpos"] + (UNSAID,),
    "hpos": shapes.VALUES["hpos"] + (UNSAID,),
}
COND_DIM = sum(len(v) for v in HEADS.values())  # 8 + 4 + 3 + 4 + 4 = 23
# where each head's "unsaid" probability sits in the condition vector
_OFFSETS = np.cumsum([0] + [len(v) for v in HEADS.values()])[:-1]
_UNSAID_INDEX = {k: int(o) + len(v) - 1 for (k, v), o in zip(HEADS.items(), _OFFSETS) if UNSAID in v}
AUX_SIZES = tuple(len(shapes.VALUES[k]) for k in shapes.KEYS)  # (8, 4, 2, 3, 3)


# ---------------------------------------------------------------- configuration


@dataclasses.dataclass
class T2IConfig:
    """Everything that defines a run; one per preset (``T2IConfig.for_preset``)."""

    # data
    image_size: int = 32
    n_train: int = 40_000  # captioned images drawn once from the train split
    # architecture
    latent_dim: int = 64
    width: int = 32  # G's last / D's first conv width; the others are 2x and 4x
    embed_dim: int = 32  # word-vector width of the text encoder
    # optimisation
    batch_size: int = 64
    steps: int = 8_000
    lr: float = 2e-4
    loss: str = "hinge"
    matching_aware: bool = True
    aux_weight: float = 1.0  # 0 turns the auxiliary classifier off
    gan_int: bool = False
    # MSGAN diversity term (Mao et al. 2019) on captions that leave something free; 0 = off.
    # Measured at 1.0: partial prompts then cover 9 of 9 positions, but draw noisy blobs.
    mode_seeking: float = 0.0
    ema: float = 0.995
    encoder_steps: int = 1_500
    seed: int = 0

    @classmethod
    def from_dict(cls, d: dict) -> "T2IConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(unknown)}; valid: {', '.join(sorted(names))}")
        return cls(**d)

    @classmethod
    def for_preset(cls, name: str, **overrides) -> "T2IConfig":
        from dalle_edu import presets

        p = presets.get(name)
        base = {
            "smoke": dict(n_train=1_024, steps=30, encoder_steps=100, width=16, batch_size=32),
            "cpu": dict(),
            "gpu": dict(image_size=64, width=64, batch_size=128, steps=20_000, n_train=100_000,
                        ema=0.999),
        }[p.name]
        return cls.from_dict({**base, **overrides})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------- text encoder


def build_text_encoder(embed_dim: int = 32, max_len: int = text.MAX_TOKENS):
    """Token ids (B, max_len) -> dict of attribute logits. Additive: sum of word vectors, linear heads."""
    import keras
    from keras import layers

    ids = keras.Input((max_len,), dtype="int32", name="token_ids")
    vectors = layers.Embedding(len(text.VOCAB), embed_dim, name="word_vectors")(ids)  # (B, T, E)
    keep = layers.Lambda(lambda t: keras.ops.expand_dims(keras.ops.cast(t > 0, "float32"), -1),
                         name="not_padding")(ids)  # (B, T, 1)
    summed = layers.Lambda(lambda t: keras.ops.sum(t[0] * t[1], axis=1), name="bag_of_words")(
        [vectors, keep])  # (B, E): padding contributes nothing, length does not dilute
    heads = {k: layers.Dense(len(v), name=k)(summed) for k, v in HEADS.items()}
    return keras.Model(ids, heads, name="text_encoder")


def attribute_targets(attrs, mentioned) -> dict:
    """Encoder targets: the drawn value where the caption names it, else "unsaid"."""
    return {k: np.array([HEADS[k].index(a[k]) if k in m else HEADS[k].index(UNSAID)
                         for a, m in zip(attrs, mentioned)], np.int32) for k in HEADS}


def pretrain_text_encoder(encoder, steps: int = 1_500, batch_size: int = 128, seed: int = 0,
                          verbose: int = 0):
    """Teach the encoder to read training captions (half of them partial). Seconds on a CPU."""
    import keras

    n = min(steps * batch_size, 40_000)
    _, captions, attrs, mentioned = shapes.sample(n, "train", seed=seed + 101, partial=0.5,
                                                  return_mentioned=True)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    encoder.compile(keras.optimizers.Adam(3e-3), loss={k: loss for k in HEADS})
    epochs = max(1, round(steps * batch_size / n))
    encoder.fit(text.encode(captions), attribute_targets(attrs, mentioned), batch_size=batch_size,
                epochs=epochs, verbose=verbose, shuffle=True)
    return encoder


def encode_prompts(encoder, prompts) -> np.ndarray:
    """Prompts -> (N, COND_DIM) float32: the encoder's per-attribute probabilities."""
    import keras

    ids = text.encode(list(prompts)).reshape(-1, text.MAX_TOKENS)
    out = []
    for i in range(0, len(ids), 4096):  # a direct call: predict() costs ~100 ms of set-up
        logits = encoder(ids[i:i + 4096], training=False)
        out.append(np.concatenate([keras.ops.convert_to_numpy(keras.ops.softmax(logits[k], axis=-1))
                                   for k in HEADS], axis=-1))
    return np.concatenate(out, axis=0).astype("float32") if out else np.zeros((0, COND_DIM), "float32")


def fill_unsaid(cond, rng) -> np.ndarray:
    """Replace each "unsaid" head of a condition by a one-hot of a uniformly drawn value.

    cond (N, COND_DIM) -> a copy in which, wherever a head's "unsaid" probability is over
    1/2, that head says one concrete value instead: the prompt's free attributes are
    sampled before G draws (uniform, as in the training data).
    """
    cond = np.array(cond, np.float32, copy=True)
    for (key, values), start in zip(HEADS.items(), _OFFSETS):
        if UNSAID not in values:
            continue
        free = cond[:, _UNSAID_INDEX[key]] > 0.5  # (N,)
        picks = rng.integers(len(values) - 1, size=len(cond))  # a concrete value per row
        block = np.zeros((len(cond), len(values)), np.float32)
        block[np.arange(len(cond)), picks] = 1.0
        cond[free, start:start + len(values)] = block[free]
    return cond


def named_mask(cond) -> np.ndarray:
    """(N, 5) 1.0 where the condition names the attribute (colour and shape always)."""
    cond = np.asarray(cond)
    cols = [np.ones(len(cond))] * 2 + [cond[:, _UNSAID_INDEX[k]] < 0.5 for k in ("size", "vpos", "hpos")]
    return np.stack(cols, axis=1).astype("float32")


# ---------------------------------------------------------------- the GAN


def _aux_loss(aux_logits, labels, mask=None):
    """Sum over the five attributes of the (masked) mean cross-entropy. labels (B, 5) int."""
    import keras
    from keras import ops

    total, start = 0.0, 0
    for j, n in enumerate(AUX_SIZES):
        ce = keras.losses.sparse_categorical_crossentropy(
            labels[:, j], aux_logits[:, start:start + n], from_logits=True)  # (B,)
        if mask is not None:
            ce = ce * mask[:, j]
        total += ops.mean(ce)
        start += n
    return total


def _make_gan_class():
    import keras
    import tensorflow as tf
    from keras import ops

    from dalle_edu.gan import GAN

    class TextToImageGAN(GAN):
        """``GAN`` plus TAC-GAN's auxiliary classifier and GAN-INT (Chapter 6).

        Batches: ``(images, (cond, labels))`` with cond (B, COND_DIM) from the text
        encoder and labels (B, 5) the drawn attributes (for D's auxiliary head on real
        images). D returns ``[logit, aux_logits]``.
        """

        def __init__(self, generator, discriminator, latent_dim, aux_weight=1.0, gan_int=False,
                     mode_seeking=0.0, **kwargs):
            super().__init__(generator, discriminator, latent_dim, conditional="text", **kwargs)
            self.aux_weight, self.gan_int = float(aux_weight), bool(gan_int)
            self.mode_seeking = float(mode_seeking)

        def _unpack(self, data):
            real, y, _ = keras.utils.unpack_x_y_sample_weight(data)
            if not isinstance(y, (tuple, list)) or len(y) != 2:
                raise ValueError("TextToImageGAN needs (images, (conditions, labels)) batches")
            return ops.cast(real, "float32"), y

        def train_step(self, data):
            real, (cond, labels) = self._unpack(data)  # (B,S,S,3), (B,23), (B,5)
            batch = ops.shape(real)[0]
            said = tf.stack([tf.ones([batch]), tf.ones([batch])]
                            + [tf.cast(cond[:, _UNSAID_INDEX[k]] < 0.5, tf.float32)
                               for k in ("size", "vpos", "hpos")], axis=1)  # (B, 5)
            D_vars = self.discriminator.trainable_variables
            G_vars = self.generator.trainable_variables

            fake = self._G(self._noise(batch), cond, training=True)
            with tf.GradientTape() as tape:
                real_logits, real_aux = self._D(real, cond)
                fake_logits, _ = self._D(fake, cond)
                wrong_logits = None
                if self.matching_aware:  # each real image with its neighbour's caption
                    wrong_logits, _ = self._D(real, ops.roll(cond, 1, axis=0))
                d_loss = self.discriminator_loss(real_logits, fake_logits, wrong_logits)
                if self.aux_weight:  # D learns to name the attributes of real images
                    d_loss += self.aux_weight * _aux_loss(real_aux, labels)
            self.d_optimizer.apply_gradients(zip(tape.gradient(d_loss, D_vars), D_vars))

            with tf.GradientTape() as tape:
                z = self._noise(batch)
                fake = self._G(z, cond, training=True)
                logits, aux = self._D(fake, cond)
                g_loss = self.loss_pair.g_loss(logits)
                if self.aux_weight:  # ...and G is rewarded when D reads what the prompt says
                    g_loss += self.aux_weight * _aux_loss(aux, labels, said)
                if self.gan_int:  # GAN-INT: captions halfway between two of the batch's
                    mixed = 0.5 * (cond + ops.roll(cond, 1, axis=0))
                    inter, _ = self._D(self._G(self._noise(batch), mixed, training=True), mixed)
                    g_loss += self.loss_pair.g_loss(inter)
                if self.mode_seeking:  # MSGAN: two noises, same caption -> the images must differ
                    # ...but only where the caption leaves something free (size or position
                    # unsaid): a full caption fixes the picture up to a little jitter.
                    free = 1.0 - said[:, 2] * said[:, 3] * said[:, 4]  # (B,)
                    z2 = self._noise(batch)
                    fake2 = self._G(z2, cond, training=True)
                    ratio = (ops.mean(ops.abs(fake - fake2), axis=(1, 2, 3))
                             / ops.mean(ops.abs(z - z2), axis=1))  # (B,)
                    g_loss += self.mode_seeking * (ops.sum(free / (ratio + 1e-5))
                                                   / ops.maximum(ops.sum(free), 1.0))
            self.g_optimizer.apply_gradients(zip(tape.gradient(g_loss, G_vars), G_vars))
            if self.ema_generator is not None:
                self._update_ema()
            self.step.assign_add(1)

            self.d_loss_tracker.update_state(d_loss)
            self.g_loss_tracker.update_state(g_loss)
            self.d_real_tracker.update_state(self._score(real_logits))
            self.d_fake_tracker.update_state(self._score(fake_logits))
            return {m.name: m.result() for m in self.metrics}

        def _D(self, x, cond, training=True):
            out = self.discriminator([x, cond], training=training)
            return (out[0], out[1]) if isinstance(out, (list, tuple)) else (out, None)

    return TextToImageGAN


def build_gan(config: T2IConfig):
    """The generator, discriminator and ``TextToImageGAN`` for ``config`` (compiled)."""
    import keras

    from dalle_edu.models import dcgan_discriminator, dcgan_generator

    c = config
    G = dcgan_generator(c.latent_dim, c.image_size, 3, width=c.width, cond_dim=COND_DIM,
                        conditioning="film", name="t2i_generator")
    D = dcgan_discriminator(c.image_size, 3, width=c.width, cond_dim=COND_DIM,
                            conditioning="projection", aux_outputs=sum(AUX_SIZES) if c.aux_weight else None,
                            name="t2i_discriminator")
    gan = _make_gan_class()(G, D, c.latent_dim, aux_weight=c.aux_weight, gan_int=c.gan_int,
                            mode_seeking=c.mode_seeking,
                            matching_aware=c.matching_aware, ema=c.ema, seed=c.seed)
    opt = lambda: keras.optimizers.Adam(c.lr, beta_1=0.0, beta_2=0.9)  # noqa: E731 (SNGAN's betas)
    gan.compile(opt(), opt(), loss=c.loss)
    return gan


def make_dataset(config: T2IConfig, encoder):
    """(images, (cond, labels)) batches from the train split, seeded and repeatable."""
    import tensorflow as tf

    from dalle_edu.data.pipeline import to_float

    images, captions, attrs = shapes.sample(config.n_train, "train", seed=config.seed,
                                            size=config.image_size)
    cond = encode_prompts(encoder, captions)
    labels = np.array([[shapes.VALUES[k].index(a[k]) for k in shapes.KEYS] for a in attrs], np.int32)
    ds = tf.data.Dataset.from_tensor_slices((images, (cond, labels)))
    ds = ds.shuffle(len(images), seed=config.seed, reshuffle_each_iteration=True)
    ds = ds.batch(config.batch_size, drop_remainder=True)
    return ds.map(lambda x, y: (to_float(x), y)).prefetch(tf.data.AUTOTUNE)


# ---------------------------------------------------------------- a trained model


class WeightsError(ValueError):
    """A weights folder that is missing, corrupt, or for another architecture."""


class TextToImage:
    """A trained text encoder + generator: what ``generate`` and the command use."""

    def __init__(self, config: T2IConfig, encoder, generator):
        self.config, self.encoder, self.generator = config, encoder, generator
        self._infer = None

    @property
    def image_size(self) -> int:
        return self.config.image_size

    def conditions(self, prompts) -> np.ndarray:
        """Validate prompts (clear ValueError for bad ones) -> (N, COND_DIM) conditions."""
        if isinstance(prompts, str):
            prompts = [prompts]
        prompts = list(prompts)
        if not prompts:
            raise ValueError("no prompts given")
        for p in prompts:
            text.parse(p)  # raises ValueError naming the problem (unknown word, contradiction...)
        return encode_prompts(self.encoder, prompts)

    def generate(self, prompts, seed: int = 0, n_per_prompt: int = 1, cond=None,
                 sample_unsaid: bool = True) -> np.ndarray:
        """Prompts -> uint8 images (N * n_per_prompt, S, S, 3); same prompts and seed -> same images.

        ``sample_unsaid``: pick the attributes a prompt leaves out (size, position) at
        random before drawing (see the module docstring); False leaves them to the GAN.
        """
        import tensorflow as tf

        if cond is None:
            cond = self.conditions(prompts)
        cond = np.repeat(np.asarray(cond, np.float32), int(n_per_prompt), axis=0)
        z = np.random.default_rng(seed).standard_normal((len(cond), self.config.latent_dim))
        if sample_unsaid:
            cond = fill_unsaid(cond, np.random.default_rng([seed, 7]))
        if self._infer is None:  # traced once for any batch size: warm calls take milliseconds
            G = self.generator
            spec = [tf.TensorSpec([None, self.config.latent_dim], tf.float32),
                    tf.TensorSpec([None, COND_DIM], tf.float32)]
            self._infer = tf.function(lambda z, c: G([z, c], training=False), input_signature=spec)
        from dalle_edu import viz

        return viz.to_uint8(self._infer(tf.constant(z, tf.float32), tf.constant(cond)).numpy())

    # --- files ----------------------------------------------------------------------

    def save(self, folder) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.json").write_text(json.dumps(self.config.to_dict(), indent=1) + "\n")
        self.generator.save_weights(folder / "generator.weights.h5")
        self.encoder.save_weights(folder / "text_encoder.weights.h5")
        return folder

    @classmethod
    def load(cls, folder) -> "TextToImage":
        """Load a saved model; problems raise ``WeightsError`` with a one-line reason."""
        from dalle_edu.models import dcgan_generator

        folder = Path(folder)
        files = [folder / n for n in ("config.json", "generator.weights.h5", "text_encoder.weights.h5")]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise WeightsError(f"no trained model in {folder}: missing {', '.join(missing)} "
                               "(train one with `dalle-edu train`)")
        try:
            config = T2IConfig.from_dict(json.loads(files[0].read_text()))
        except (ValueError, TypeError) as err:
            raise WeightsError(f"corrupt config in {files[0]}: {err}") from None
        G = dcgan_generator(config.latent_dim, config.image_size, 3, width=config.width,
                            cond_dim=COND_DIM, conditioning="film", name="t2i_generator")
        encoder = build_text_encoder(config.embed_dim)
        for model, path in ((G, files[1]), (encoder, files[2])):
            try:
                with warnings.catch_warnings():
                    # Keras only *warns* when part of a file fits no layer and then keeps
                    # fresh random weights there; a half-loaded model must be an error.
                    warnings.simplefilter("error", UserWarning)
                    model.load_weights(path)
            except (ValueError, KeyError, UserWarning) as err:
                raise WeightsError(f"{path} does not fit this architecture ({model.name}): "
                                   f"{str(err).splitlines()[0][:200]}") from None
            except OSError as err:
                raise WeightsError(f"{path} is not a readable weights file (corrupt or truncated): "
                                   f"{str(err).splitlines()[0][:200]}") from None
        return cls(config, encoder, G)


# ---------------------------------------------------------------- training


def train(config: T2IConfig, out_dir, resume: bool = False, verbose: int = 1,
          eval_every: int = 0, probe=None, extra_callbacks=(), checkpoint_every: int = 500):
    """Pretrain the text encoder, train the GAN, save the EMA generator to ``out_dir``.

    Checkpoints go to ``out_dir/checkpoints`` every ``checkpoint_every`` steps and at the end; ``resume=True`` continues
    from the newest one exactly (same data order, same noise). Returns
    ``(TextToImage, history_rows)``; with ``eval_every`` and a ``probe`` the rows hold
    fidelity against wall-clock training time.
    """
    import keras

    from dalle_edu import callbacks as cbs
    from dalle_edu import presets

    out_dir = Path(out_dir)
    ckpt_dir = out_dir / "checkpoints"
    presets.set_seed(config.seed)
    encoder = build_text_encoder(config.embed_dim)
    enc_path = out_dir / "text_encoder.weights.h5"
    if resume and enc_path.is_file():
        encoder.load_weights(enc_path)  # the frozen encoder the checkpoints were trained with
    else:
        if resume:
            raise ValueError(f"--resume: nothing to resume in {out_dir} (no text encoder saved there)")
        pretrain_text_encoder(encoder, config.encoder_steps, seed=config.seed)
        out_dir.mkdir(parents=True, exist_ok=True)
        encoder.save_weights(enc_path)
    if resume and cbs.latest_checkpoint(ckpt_dir) is None:
        raise ValueError(f"--resume: no checkpoint in {ckpt_dir}")
    (out_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=1) + "\n")

    gan = build_gan(config)
    ds = make_dataset(config, encoder)
    steps_per_epoch = min(500, config.steps)
    if config.steps % steps_per_epoch:
        raise ValueError(f"steps ({config.steps}) must be a multiple of {steps_per_epoch}")
    epochs = max(1, -(-config.steps // steps_per_epoch))
    rows = []
    sampler = TextToImage(config, encoder, gan.ema_generator or gan.generator)

    class _Clock(keras.callbacks.Callback):  # training time only: evaluation is not counted
        def on_train_begin(self, logs=None):
            self.total, self.t0 = 0.0, time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.total += time.perf_counter() - self.t0
            if eval_every and probe is not None and (epoch + 1) % eval_every == 0:
                rows.append({"step": int(gan.step.numpy()), "train_seconds": round(self.total, 1),
                             **evaluate(sampler, probe, n=500)})
                if eval_every:  # the caller asked for the fidelity-vs-time rows
                    print(json.dumps(rows[-1]), flush=True)
            self.t0 = time.perf_counter()

    callbacks = [_Clock(), cbs.Checkpoint(ckpt_dir, every_n_steps=checkpoint_every, keep=2),
                 cbs.NaNGuard(checkpoint_dir=ckpt_dir), *extra_callbacks]
    gan.fit(ds.repeat(), epochs=epochs, steps_per_epoch=steps_per_epoch, callbacks=callbacks,
            verbose=verbose, resume_from=ckpt_dir if resume else None)
    model = TextToImage(config, encoder, gan.ema_generator or gan.generator)
    model.save(out_dir)
    return model, rows


# ---------------------------------------------------------------- measuring


def evaluate(model: TextToImage, probe, n: int = 1_000, seed: int = 0) -> dict:
    """Caption fidelity on the test and compositional splits, partial-prompt coverage,
    diversity ratio and colour purity (Chapter 6's table)."""
    from dalle_edu import evaluation as ev

    out = {}
    for split in ("test", "compositional"):
        _, captions, attrs = shapes.sample(n, split, seed=seed + 7, size=model.image_size)
        images = model.generate(captions, seed=seed)
        out[split] = round(ev.caption_fidelity(probe, images, [text.parse(c) for c in captions])["fidelity"], 4)
        if split == "test":
            out["purity_far"] = round(ev.color_purity(images, [a["color"] for a in attrs]), 4)
    # partial captions (size and/or position left out): are the named attributes drawn?
    _, captions, _ = shapes.sample(n, "test", seed=seed + 7, size=model.image_size, partial=1.0)
    images = model.generate(captions, seed=seed)
    out["partial"] = round(ev.caption_fidelity(probe, images, [text.parse(c) for c in captions])["fidelity"], 4)
    # how many of the 9 positions do 64 samples of "a red circle" cover (and the GAN alone)?
    for key, fill in (("positions_of_9", True), ("positions_of_9_gan_only", False)):
        images = model.generate(["a red circle"], seed=seed, n_per_prompt=64, sample_unsaid=fill)
        out[key] = len({(p["vpos"], p["hpos"]) for p in probe.predict(images)})
    # diversity: samples of one full prompt vs real renders of the same attributes
    attr = dict(color="yellow", shape="triangle", size="big", vpos="middle", hpos="center")
    fake = model.generate([shapes.caption(attr)], seed=seed, n_per_prompt=64)
    real = shapes.render([attr] * 64, seed=seed, size=model.image_size)
    out["diversity_ratio"] = round(ev.mean_pairwise_distance(fake) / ev.mean_pairwise_distance(real), 3)
    return out
