"""``TextToImage``: a trained text encoder + generator, saved and loaded — Chapter 7.

Every text-to-image model the package ships answers the same three calls
(``dalle_edu.MODELS`` lists them)::

    model.generate(prompts, seed=0, n_per_prompt=1)   # uint8 (N * n_per_prompt, S, S, 3)
    model.save(folder);  Model.load(folder)

**Sampling what the prompt leaves free.** A conditional GAN tends to ignore its noise,
and ours draws "a red circle" in one place only. So before drawing, each attribute the
prompt leaves unsaid (the parser knows which) is picked at random (uniformly, from the
seed) and written into the condition: a two-stage sampler, p(attributes | text) then
p(image | attributes). ``sample_unsaid=False`` shows the GAN alone.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import tensorflow as tf

from dalle_edu import images, text
from dalle_edu.checkpoint import WeightsError, load_weights_strict
from dalle_edu.t2i.condition import fill_unsaid, said_mask
from dalle_edu.t2i.config import T2IConfig
from dalle_edu.t2i.encoder import build_encoder_for, conditions_for

FILES = ("config.json", "generator.weights.h5", "text_encoder.weights.h5")


def check_seed(seed) -> int:
    """A seed is a non-negative int; anything else is a one-line ``ValueError``."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def check_count(n, name: str) -> int:
    """A count (``n_per_prompt``, rerank's k) is an int >= 1; anything else is a one-line ``ValueError``."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {n!r}")
    return int(n)


class TextToImage:
    """A trained text encoder + generator: what ``generate`` and the command use."""

    def __init__(self, config: T2IConfig, encoder, generator):
        self.config, self.encoder, self.generator = config, encoder, generator
        self._infer = None

    @property
    def image_size(self) -> int:
        return self.config.image_size

    def conditions(self, prompts) -> np.ndarray:
        """Prompts (str or ``text.Prompt``; bad ones raise ``ValueError``) -> (N, cond_dim)."""
        return conditions_for(self.config, self.encoder, text.prompts(prompts))

    def generate(self, prompts, seed: int = 0, n_per_prompt: int = 1, cond=None,
                 sample_unsaid: bool = True, truncation: float | None = None) -> np.ndarray:
        """Prompts -> uint8 images (N * n_per_prompt, S, S, 3); same prompts and seed -> same images.

        ``cond`` (N, COND_DIM) draws from given conditions instead of prompts (then the
        unsaid heads are read from the condition itself). ``truncation`` t > 0: the
        truncation trick (Brock et al. 2019) — every noise entry with |z| > t is drawn
        again, so samples keep to the likely middle of G's input: less variety, fewer
        odd pictures. None (the default) draws z from the full normal.
        """
        seed = check_seed(seed)
        if truncation is not None and not (isinstance(truncation, (int, float)) and truncation > 0):
            raise ValueError(f"truncation must be a number > 0 (e.g. 0.5) or None, got {truncation!r}")
        check_count(n_per_prompt, "n_per_prompt")
        said, labels = None, self.config.text_encoder == "labels"
        if cond is None:
            parsed = text.prompts(prompts)  # parsed once; the value goes down from here
            cond = conditions_for(self.config, self.encoder, parsed)
            said = np.repeat(said_mask(parsed), int(n_per_prompt), axis=0)
        cond = np.repeat(np.asarray(cond, np.float32), int(n_per_prompt), axis=0)
        if cond.ndim != 2 or cond.shape[1] != self.config.cond_dim:
            raise ValueError(f"a condition batch has shape (N, {self.config.cond_dim}), "
                             f"got {cond.shape}")
        rng = np.random.default_rng(seed)
        z = rng.standard_normal((len(cond), self.config.latent_dim))
        while truncation is not None and (far := np.abs(z) > truncation).any():
            z[far] = rng.standard_normal(int(far.sum()))  # redraw the tails: a truncated normal
        if sample_unsaid and labels:  # only the attribute condition has heads to fill
            cond = fill_unsaid(cond, np.random.default_rng([seed, 7]), said)
        if self._infer is None:  # traced once for any batch size: warm calls take milliseconds
            G = self.generator
            spec = [tf.TensorSpec([None, self.config.latent_dim], tf.float32),
                    tf.TensorSpec([None, self.config.cond_dim], tf.float32)]
            self._infer = tf.function(lambda z, c: tf.cast(G([z, c], training=False), tf.float32),
                                      input_signature=spec)
        out = self._infer(tf.constant(z, tf.float32), tf.constant(cond))
        return images.to_uint8(out.numpy())

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
        from dalle_edu.t2i.gan import build_generator

        folder = Path(folder)
        files = [folder / n for n in FILES]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise WeightsError(f"no trained model in {folder}: missing {', '.join(missing)} "
                               "(train one with `dalle-edu train`)")
        try:
            config = T2IConfig.from_dict(json.loads(files[0].read_text()))
        except (ValueError, TypeError) as err:
            raise WeightsError(f"corrupt config in {files[0]}: {err}") from None
        G = build_generator(config)
        try:
            encoder = build_encoder_for(config)
        except (ValueError, TypeError) as err:
            raise WeightsError(f"corrupt config in {files[0]}: {err}") from None
        for model, path in ((G, files[1]), (encoder, files[2])):
            load_weights_strict(model, path)
        return cls(config, encoder, G)
