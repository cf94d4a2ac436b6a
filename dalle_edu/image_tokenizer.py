"""The image tokenizer of "the real DALL·E, small": images <-> grids of discrete codes (DALL·E, stage 1).

A VQ-VAE (``dalle_edu.models.vqvae`` has the pieces and the equations) trained on the
train split's images alone. Each 32x32 image becomes an 8x8 grid of ids in [0, 256):
64 "image words" a transformer can write after the caption::

    vq = train_tokenizer(VQConfig(), verbose=1)   # 2,000 steps: ~8 min on 2 busy cores
    ids = vq.encode(images)                       # (N, 8, 8) int32
    pictures = vq.decode(ids)                     # (N, 32, 32, 3) uint8
    vq.codebook_usage(images)                     # {"perplexity": ..., "used": ..., "unused": ...}
    vq.save("runs/vqvae"); VQVAE.load("runs/vqvae")

Training is Keras's own ``fit``: ``compute_loss`` gives reconstruction MSE + beta times
the commitment term, and the codebook moves by EMA inside the quantizer's forward pass
(no gradient reaches it), so no custom ``train_step`` — and no ``tf.GradientTape`` — is
needed. This module sits on floor 4 for its file format (``checkpoint.WeightsError``).
``fit`` reports ``loss``, ``recon_mse``, ``commitment``, ``perplexity`` (exp of the
entropy of the batch's code usage) and ``codes_used`` (distinct codes in the batch).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import keras
from keras import ops

from dalle_edu.checkpoint import WeightsError, load_config, load_weights_strict, save_weights_only
from dalle_edu.data import shapes
from dalle_edu.images import check_images, to_float, to_uint8
from dalle_edu.models.vqvae import (VQConfig, VectorQuantizer, codes_used, perplexity, vq_decoder,
                                    vq_encoder)

__all__ = ["VQConfig", "VQVAE", "train_tokenizer", "check_fits", "FILES"]

FILES = ("vqvae_config.json", "vqvae.weights.h5")


class VQVAE(keras.Model):
    """Encoder -> EMA vector quantizer -> decoder; ``fit`` on images in [-1, 1] (no labels)."""

    def __init__(self, config: VQConfig, **kwargs):
        super().__init__(name="vqvae", **kwargs)
        self.config = c = config
        self.encoder = vq_encoder(c)
        self.decoder = vq_decoder(c)
        self.quantizer = VectorQuantizer(c.codebook_size, c.code_dim, decay=c.decay,
                                         epsilon=c.epsilon, dead_after=c.dead_after, seed=c.seed,
                                         name="quantizer")
        self.quantizer.build((None, c.tokens_per_side, c.tokens_per_side, c.code_dim))
        self.recon_tracker = keras.metrics.Mean(name="recon_mse")
        self.commit_tracker = keras.metrics.Mean(name="commitment")
        self.perplexity_tracker = keras.metrics.Mean(name="perplexity")
        self.used_tracker = keras.metrics.Mean(name="codes_used")
        self.built = True  # everything is built: spare fit() a symbolic trace

    def call(self, images, training=False):
        z = self.encoder(images, training=training)  # (B, T, T, D)
        z_q, ids = self.quantizer(z, training=training)  # (B, T, T, D), (B, T, T)
        return {"images": self.decoder(z_q, training=training), "z": z, "z_q": z_q, "ids": ids}

    @staticmethod
    def _terms(x, y_pred):
        recon = ops.mean(ops.square(y_pred["images"] - x))
        # z_q's value is q: sg(z_q) = sg(q), so the gradient reaches the encoder only
        commit = ops.mean(ops.square(y_pred["z"] - ops.stop_gradient(y_pred["z_q"])))
        return recon, commit

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        recon, commit = self._terms(x, y_pred)
        return recon + self.config.beta * commit

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        recon, commit = self._terms(x, y_pred)
        K = self.config.codebook_size
        self.recon_tracker.update_state(recon)
        self.commit_tracker.update_state(commit)
        self.perplexity_tracker.update_state(perplexity(y_pred["ids"], K))
        self.used_tracker.update_state(codes_used(y_pred["ids"], K))
        return self.get_metrics_result()

    # --- using it -------------------------------------------------------------------

    def _check_images(self, images) -> np.ndarray:
        return check_images(images, self.config.image_size, "this tokenizer")

    def _check_ids(self, ids) -> np.ndarray:
        a = np.asarray(ids)
        t, K = self.config.tokens_per_side, self.config.codebook_size
        if a.ndim != 3 or a.shape[1:] != (t, t):
            raise ValueError(f"token ids must be (N, {t}, {t}) for this tokenizer, got {a.shape} "
                             f"(a flat (N, {t * t}) sequence: .reshape(-1, {t}, {t}))")
        if not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"token ids must be integers in [0, {K}), got dtype {a.dtype}")
        if a.size and (a.min() < 0 or a.max() >= K):
            raise ValueError(f"token ids must be in [0, {K}), got values in [{a.min()}, {a.max()}]")
        return a.astype(np.int32)

    def encode(self, images, batch_size: int = 1024) -> np.ndarray:
        """uint8 or [-1, 1] images (N, S, S, 3) -> token ids (N, T, T) int32."""
        x = self._check_images(images)
        t = self.config.tokens_per_side
        out = [ops.convert_to_numpy(self.quantizer(self.encoder(x[i:i + batch_size]))[1])
               for i in range(0, len(x), batch_size)]
        return np.concatenate(out).astype(np.int32) if out else np.zeros((0, t, t), np.int32)

    def decode(self, ids, batch_size: int = 1024) -> np.ndarray:
        """Token ids (N, T, T) -> images (N, S, S, 3) uint8."""
        a = self._check_ids(ids)
        s = self.config.image_size
        out = [ops.convert_to_numpy(self.decoder(self.quantizer.lookup(a[i:i + batch_size])))
               for i in range(0, len(a), batch_size)]
        return to_uint8(np.concatenate(out)) if out else np.zeros((0, s, s, 3), np.uint8)

    def reconstruct(self, images, batch_size: int = 1024) -> np.ndarray:
        """Images -> tokens -> images (uint8): what the tokenizer keeps of a picture."""
        return self.decode(self.encode(images, batch_size), batch_size)

    def codebook_usage(self, images) -> dict:
        """How the codes are used on ``images``: perplexity exp(-sum p log p), used and unused counts.

        "unused" counts codes no token of *these images* picked; the quantizer's dead codes
        (unused for ``dead_after`` training steps in a row) are revived during training.
        """
        ids = self.encode(images)
        K = self.config.codebook_size
        used = int(ops.convert_to_numpy(codes_used(ids, K)))
        return {"perplexity": float(ops.convert_to_numpy(perplexity(ids, K))),
                "used": used, "unused": K - used}

    # --- files ----------------------------------------------------------------------

    def save(self, folder) -> Path:
        """``folder/vqvae_config.json`` + ``folder/vqvae.weights.h5`` (codebook and EMA state included)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / FILES[0]).write_text(json.dumps(self.config.to_dict(), indent=1) + "\n")
        save_weights_only(self, folder / FILES[1], lambda: VQVAE(self.config))
        return folder

    @classmethod
    def load(cls, folder) -> "VQVAE":
        """Load a saved tokenizer; problems raise ``WeightsError`` with a one-line reason."""
        folder = Path(folder)
        missing = [n for n in FILES if not (folder / n).is_file()]
        if missing:
            raise WeightsError(f"no image tokenizer in {folder}: missing {', '.join(missing)} "
                               "(train one with dalle_edu.image_tokenizer.train_tokenizer)")
        config = load_config(VQConfig, folder / FILES[0], "tokenizer config")
        model = cls(config)
        load_weights_strict(model, folder / FILES[1])
        return model


def check_fits(tokenizer: VQVAE, image_size: int, tokens_per_side: int, grid: str = "codes") -> VQVAE:
    """The tokenizer must map ``image_size`` images onto a ``tokens_per_side`` grid; else a one-line ``ValueError``."""
    t = tokenizer.config
    if (t.image_size, t.tokens_per_side) != (image_size, tokens_per_side):
        n = t.tokens_per_side
        raise ValueError(f"the tokenizer turns {t.image_size}x{t.image_size} images into "
                         f"{grid.format(f'{n}x{n}')}; the config asks for "
                         f"{image_size}x{image_size} -> {tokens_per_side}x{tokens_per_side}")
    return tokenizer


# --- training ---------------------------------------------------------------------------

class _Batches(keras.utils.PyDataset):
    """Exactly ``steps`` batches of images in [-1, 1], reshuffled every pass, seeded."""

    def __init__(self, images, steps, batch_size, seed):
        super().__init__()
        n = len(images)
        passes = -(-steps * batch_size // n)
        rng = np.random.default_rng(seed)
        self.order = np.concatenate([rng.permutation(n) for _ in range(passes)])
        self.images, self.steps, self.batch_size = images, steps, batch_size

    def __len__(self):
        return self.steps

    def __getitem__(self, i):
        return to_float(self.images[self.order[i * self.batch_size:(i + 1) * self.batch_size]])


def train_tokenizer(config: VQConfig, out_dir=None, verbose: int = 1) -> VQVAE:
    """Train a tokenizer on ``config.n_train`` train-split images (no captions); save to ``out_dir``."""
    from dalle_edu import device

    device.set_seed(config.seed)
    images, _, _ = shapes.sample(config.n_train, "train", seed=config.seed, size=config.image_size)
    model = VQVAE(config)
    model.compile(keras.optimizers.Adam(config.lr), jit_compile=False)
    model.fit(_Batches(images, config.steps, config.batch_size, config.seed), epochs=1,
              verbose=verbose)
    if out_dir is not None:
        model.save(out_dir)
    return model
