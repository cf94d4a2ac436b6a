"""Training the diffusion model, resumable — Chapter 13 and ``dalle-edu train --model diffusion``.

    model = train_diffusion(DiffusionConfig.for_preset("cpu"), "runs/diffusion", clip=..., tokenizer=...)
    model = train_diffusion(config, "runs/diffusion", resume=True)      # after an interruption

The text tower (a mini-CLIP's, frozen) and, for latent diffusion, the image tokenizer
are fixed before the U-Net trains: given, or trained now (a minute each at 32x32), and
saved to ``out_dir`` so a resumed run reads the same ones. The training images are
encoded once; each channel of the latents is standardised (its mean and standard
deviation saved with the model). The U-Net then trains with ``DiffusionTrainer.train_step``
under ``dalle_edu.trainer``'s one scaffold: checkpoints every 500 steps in
``out_dir/checkpoints`` (weights, EMA weights, optimizer, the noise stream), and
``resume=True`` ends bit for bit where an uninterrupted run ends (CPU, op determinism).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import keras
import tensorflow as tf
from keras import ops

from dalle_edu import device, diffusion, text, trainer
from dalle_edu.clip import ClipConfig, MiniCLIP, train_clip
from dalle_edu.data import shapes
from dalle_edu.image_tokenizer import VQVAE, train_tokenizer
from dalle_edu.t2i.diffusion import (FILES, Diffusion, DiffusionConfig, TextTower, build_denoiser,
                                     check_tokenizer, unet_inputs)

__all__ = ["DiffusionTrainer", "make_data", "train_diffusion"]


class DiffusionTrainer(keras.Model):
    """The U-Net, its EMA copy and the frozen text tower, trained by ``fit`` with the v-loss."""

    def __init__(self, config: DiffusionConfig, unet, ema_unet, tower: TextTower, **kwargs):
        super().__init__(name="diffusion_trainer", **kwargs)
        self.config, self.unet, self.ema_unet, self.tower = config, unet, ema_unet, tower
        self.alpha_bar = ops.convert_to_tensor(diffusion.alpha_bar(config.schedule, config.T),
                                               "float32")
        self.seed_generator = keras.random.SeedGenerator(config.seed)  # t, noise, dropped captions
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.built = True

    def train_step(self, data):
        x0, ids = data  # (B, H, W, C) clean latents (or images); (B, L) caption ids
        c, b = self.config, ops.shape(x0)[0]
        t = keras.random.randint((b,), 0, c.T, seed=self.seed_generator)  # (B,) a step each
        eps = keras.random.normal(ops.shape(x0), seed=self.seed_generator)  # (B, H, W, C)
        keep = ops.cast(keras.random.uniform((b,), seed=self.seed_generator) >= c.p_uncond,
                        "float32")  # (B,) 0: caption dropped, for guidance
        ab = ops.take(self.alpha_bar, t)  # (B,)
        x_t = diffusion.q_sample(x0, ab, eps)  # sqrt(ab) x0 + sqrt(1 - ab) eps
        v = diffusion.v_target(x0, ab, eps)  # sqrt(ab) eps - sqrt(1 - ab) x0
        caption, words, mask = self.tower(ids)  # (B, E), (B, L, W), (B, L): frozen
        with tf.GradientTape() as tape:
            v_pred = self.unet(unet_inputs(c, x_t, ops.cast(t, "float32"), caption, words, mask,
                                           keep), training=True)
            loss = diffusion.v_loss(v_pred, v)
        weights = self.unet.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights))
        for w, e in zip(self.unet.weights, self.ema_unet.weights):  # EMA of the weights
            e.assign(c.ema * e + (1.0 - c.ema) * w)
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    @property
    def metrics(self):
        return [self.loss_tracker]

    # --- training state (dalle_edu.checkpoint reads these) ------------------------------

    @property
    def step(self):
        return self.optimizer.iterations

    def checkpoint_groups(self) -> dict:
        return {"unet": self.unet.weights, "ema_unet": self.ema_unet.weights,
                "optimizer": self.optimizer.variables}

    @property
    def extra_state(self):
        return [self.seed_generator.state]


def make_data(config: DiffusionConfig, tokenizer: VQVAE | None = None):
    """``config.n_train`` captioned train images -> (x0, ids, stats).

    x0: standardised latents (N, T, T, D) float32 (``space="latent"``) or the images
    uint8 (N, S, S, 3); ids (N, MAX_TOKENS) int32; stats: (mean, std) per latent channel,
    or None. The images are drawn with seed ``config.seed + 1``, a quarter of their
    captions partial.
    """
    images, captions, _ = shapes.sample(config.n_train, "train", seed=config.seed + 1,
                                        size=config.image_size, partial=config.partial)
    ids = text.encode(captions).astype("int32")
    if config.space == "pixel":
        return images, ids, None
    x = images.astype("float32") / 127.5 - 1.0
    z = np.concatenate([ops.convert_to_numpy(tokenizer.encoder(x[i:i + 1024], training=False))
                        for i in range(0, len(x), 1024)])
    mean, std = z.mean(axis=(0, 1, 2)), z.std(axis=(0, 1, 2)) + 1e-6
    return ((z - mean) / std).astype("float32"), ids, (mean, std)


def make_dataset(config: DiffusionConfig, x0, ids) -> tf.data.Dataset:
    """Endless batches of (x0 in float32, ids), a seeded shuffle: a resumed run skips to its place."""
    ds = (tf.data.Dataset.from_tensor_slices((x0, ids)).shuffle(len(ids), seed=config.seed)
          .repeat().batch(config.batch_size, drop_remainder=True))
    if config.space == "pixel":
        ds = ds.map(lambda x, i: (tf.cast(x, "float32") / 127.5 - 1.0, i))
    return ds.prefetch(2)


def build_trainer(config: DiffusionConfig, tower: TextTower, code_dim=None) -> DiffusionTrainer:
    """U-Net + EMA copy (same first weights) + tower, compiled with Adam and warm-up + cosine."""
    unet = build_denoiser(config, tower.dim, tower.word_dim, code_dim)
    ema = build_denoiser(config, tower.dim, tower.word_dim, code_dim)
    ema.set_weights(unet.get_weights())
    model = DiffusionTrainer(config, unet, ema, tower)
    schedule = trainer.warmup_cosine(config.lr, config.steps, config.warmup, config.min_lr)
    model.compile(keras.optimizers.Adam(schedule), jit_compile=False)
    model.optimizer.build(unet.trainable_variables)  # its slots exist now: a checkpoint can fill them
    return model


def _text_tower(config, out_dir: Path, resume: bool, clip) -> TextTower:
    folder = out_dir / FILES[2]
    if resume and folder.is_dir():
        return TextTower(MiniCLIP.load(folder, text_only=True))
    if clip is None:
        clip = train_clip(ClipConfig(image_size=config.image_size, seed=config.seed), verbose=0)
    elif not isinstance(clip, MiniCLIP):
        clip = MiniCLIP.load(clip, text_only=True)
    tower = TextTower(clip)
    tower.save(folder)
    return tower


def _tokenizer(config, out_dir: Path, resume: bool, tokenizer, verbose) -> VQVAE:
    folder = out_dir / FILES[4]
    if tokenizer is not None:
        tokenizer = check_tokenizer(config, tokenizer if isinstance(tokenizer, VQVAE)
                                    else VQVAE.load(tokenizer))
        tokenizer.save(folder)
        return tokenizer
    if resume and (folder / "vqvae.weights.h5").is_file():
        return VQVAE.load(folder)
    if verbose:
        print(f"the image tokenizer ({config.vq_config().steps} steps)", flush=True)
    return train_tokenizer(config.vq_config(), out_dir=folder, verbose=verbose)


def train_diffusion(config: DiffusionConfig, out_dir, resume: bool = False, verbose: int = 1,
                    callbacks=(), checkpoint_every: int = 500, clip=None, tokenizer=None) -> Diffusion:
    """Fix the text tower (and tokenizer), train the U-Net, save the EMA model to ``out_dir``.

    ``clip``: a ``MiniCLIP`` or its folder (None: one trained now); ``tokenizer``: a
    ``VQVAE`` or its folder (None: one trained now). ``callbacks`` are Keras callbacks;
    each reaches the model being trained as ``self.model.sampler`` (a ``Diffusion`` over
    the EMA weights). ``out_dir/training.json`` records the seconds each part took.
    """
    out_dir = Path(out_dir)
    trainer.epochs_for(config.steps)  # a bad step count fails now, not after the tokenizer
    trainer.start_run(config, out_dir, resume, config_file=FILES[0])  # RESUMABLE: ()
    device.set_seed(config.seed)
    t0 = time.perf_counter()
    tower = _text_tower(config, out_dir, resume, clip)
    tok = _tokenizer(config, out_dir, resume, tokenizer, verbose) if config.space == "latent" else None
    x0, ids, stats = make_data(config, tok)
    prepare = time.perf_counter() - t0

    device.set_seed(config.seed)  # the same first weights whether the tokenizer ran now or was loaded
    model = build_trainer(config, tower, tok.config.code_dim if tok else None)
    model.sampler = Diffusion(config, model.ema_unet, tower, tok, stats)
    if verbose:
        print(f"the U-Net ({model.unet.count_params():,} weights, {config.steps} steps); "
              f"checkpoints in {out_dir / 'checkpoints'}", flush=True)
    t0 = time.perf_counter()
    trainer.train_run(model, make_dataset(config, x0, ids), config.steps, out_dir, resume,
                      callbacks=callbacks, verbose=verbose, checkpoint_every=checkpoint_every,
                      monitor=("loss",))
    result = Diffusion(config, model.ema_unet, tower, tok, stats)
    result.save(out_dir)
    (out_dir / "training.json").write_text(json.dumps(
        {"prepare_seconds": round(prepare, 1), "unet_seconds": round(time.perf_counter() - t0, 1),
         "resumed": bool(resume)}, indent=1) + "\n")
    return result
