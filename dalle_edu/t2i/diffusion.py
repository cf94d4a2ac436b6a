"""``Diffusion``: text-to-image the way it is done today, small — Chapter 13.

A U-Net (``models.unet``) learns to take noise off; the caption reaches it through the
mini-CLIP's text tower (learned from pictures, no labels); classifier-free guidance
trades variety for fidelity at sampling time (``dalle_edu.diffusion`` has the maths)::

    model = Diffusion.load("runs/diffusion")
    model.generate(["a red circle"], seed=0, n_per_prompt=4)         # uint8 (4, 32, 32, 3)
    model.generate(prompts, steps=10, guidance=1.0)                  # fewer steps, no guidance

``space="latent"`` is Stable Diffusion's recipe (Rombach et al. 2022), small: the
diffusion runs on the image tokenizer's continuous encoder outputs (8x8x32 at 32x32,
each channel standardised), and a sample is snapped to its nearest codes and decoded
by the tokenizer's decoder. ``space="pixel"`` diffuses the 32x32x3 image itself.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import tensorflow as tf
from keras import ops

from dalle_edu import configs, diffusion, text
from dalle_edu.checkpoint import WeightsError, load_config, load_weights_strict, save_weights_only
from dalle_edu.clip import FILES as CLIP_FILES, MiniCLIP
from dalle_edu.configs import field
from dalle_edu.image_tokenizer import VQVAE, check_fits
from dalle_edu.images import to_uint8
from dalle_edu.models.unet import TEXT_KINDS, build_unet
from dalle_edu.models.vqvae import VQConfig
from dalle_edu.t2i.model import check_count, check_seed

FILES = ("diffusion_config.json", "unet.weights.h5", "text", "latent_stats.json", "tokenizer")
SPACES = ("latent", "pixel")


@dataclasses.dataclass
class DiffusionConfig(configs.Config):
    """One run of the diffusion model; ``DiffusionConfig.for_preset(name)`` sizes it."""

    PRESET_MODEL = "diffusion"
    RESUMABLE = ()  # the learning rate's cosine is tied to ``steps``: a resumed run changes nothing

    image_size: int = field(32, gt=0)
    space: str = field("latent", choices=SPACES)
    tokens_per_side: int = field(8, gt=0)  # the latent grid (8x8 at 32x32)
    tokenizer: dict = field(default_factory=dict)  # VQConfig overrides, when it trains its own
    # the U-Net: channels width * 2^i at each of `levels` resolutions
    text: str = field("film", choices=TEXT_KINDS)
    width: int = field(40, gt=0)  # 1.09 M weights at 8x8x32 (4.4 MB): the shipped size
    levels: int = field(2, ge=1)
    blocks: int = field(1, ge=1)
    # the noise: T steps of a schedule; the caption dropped this often (for guidance)
    schedule: str = field("cosine", choices=diffusion.SCHEDULES)
    T: int = field(1_000, gt=1)
    p_uncond: float = field(0.1, ge=0, le=1)
    # data: captioned train-split images, a quarter with size or position left out
    n_train: int = field(40_000, gt=0)
    partial: float = field(0.25, ge=0, le=1)
    # optimisation: Adam, warm-up then cosine decay to lr * min_lr; EMA of the weights
    steps: int = field(8_000, gt=0)  # ~100 ms a step on 2 cores: 14 min
    batch_size: int = field(64, gt=0)
    lr: float = field(1e-3, gt=0)
    warmup: int = field(200, ge=0)
    min_lr: float = field(0.05, ge=0, le=1)
    ema: float = field(0.999, ge=0, lt=1)
    # sampling defaults of generate()
    sample_steps: int = field(25, gt=0)
    guidance: float = field(3.0, ge=0)
    seed: int = field(0, ge=0)

    def __post_init__(self):
        super().__post_init__()
        if self.sample_steps > self.T:
            raise ValueError(f"DiffusionConfig.sample_steps must be at most T = {self.T}, "
                             f"got {self.sample_steps}")
        if self.space == "latent":
            self.vq_config()  # bad tokenizer overrides fail now
        if self.image_size % 2 ** (self.levels - 1):
            raise ValueError(f"DiffusionConfig.levels: {self.levels} resolutions halve "
                             f"{self.image_size} {self.levels - 1} times; it must stay whole")

    def vq_config(self) -> VQConfig:
        return VQConfig.from_dict({"image_size": self.image_size, "seed": self.seed,
                                   "tokens_per_side": self.tokens_per_side, **self.tokenizer})

    def shape(self, code_dim: int | None = None) -> tuple:
        """(H, W, C) of what is diffused: the latent grid or the image."""
        if self.space == "pixel":
            return (self.image_size, self.image_size, 3)
        return (self.tokens_per_side, self.tokens_per_side, code_dim or self.vq_config().code_dim)


def build_denoiser(config: DiffusionConfig, text_dim: int, word_dim: int, code_dim=None):
    widths = tuple(config.width * 2 ** i for i in range(config.levels))
    return build_unet(config.shape(code_dim), widths=widths, blocks=config.blocks,
                      text_dim=text_dim, text=config.text, word_dim=word_dim,
                      max_words=text.MAX_TOKENS)


def check_tokenizer(config: DiffusionConfig, tokenizer: VQVAE) -> VQVAE:
    """The tokenizer must map the config's images onto its latent grid; else a one-line ``ValueError``."""
    return check_fits(tokenizer, config.image_size, config.tokens_per_side, "a {} latent grid")


class TextTower:
    """The frozen mini-CLIP text tower, read two ways: the caption's vector and its words."""

    def __init__(self, clip: MiniCLIP):
        self.clip, self.encoder = clip, clip.text_encoder
        self.words = self.encoder.get_layer("word_vectors")
        self.dim, self.word_dim = clip.config.embed_dim, clip.config.word_dim

    def __call__(self, ids):
        """Ids (B, L) -> (caption (B, E) unit, words (B, L, W), mask (B, L))."""
        e = self.encoder(ids, training=False)
        e = e / ops.sqrt(ops.maximum(ops.sum(e * e, -1, keepdims=True), 1e-12))
        return e, self.words(ids), ops.cast(ops.not_equal(ids, text.PAD), "float32")

    def save(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        d = {**self.clip.config.to_dict(), "log_scale": float(self.clip.log_scale.numpy())}
        (folder / CLIP_FILES[0]).write_text(json.dumps(d, indent=1) + "\n")
        self.encoder.save_weights(folder / CLIP_FILES[2])


def unet_inputs(config: DiffusionConfig, x, t, caption, words, mask, keep):
    """The U-Net's inputs; ``keep`` (B,) 1 to read the caption, 0 to drop it (the null caption)."""
    inputs = [x, t, caption * keep[:, None]]
    if config.text == "cross":
        inputs += [words, mask * keep[:, None]]
    return inputs


class Diffusion:
    """A trained denoiser + text tower (+ tokenizer): what ``generate(model="diffusion")`` uses."""

    def __init__(self, config: DiffusionConfig, unet, tower: TextTower, tokenizer: VQVAE | None = None,
                 latent_stats=None):
        self.config, self.unet, self.tower, self.tokenizer = config, unet, tower, tokenizer
        mean, std = latent_stats if latent_stats is not None else (0.0, 1.0)
        self.mean, self.std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
        self.alpha_bar = diffusion.alpha_bar(config.schedule, config.T)
        self._v = None

    @property
    def image_size(self) -> int:
        return self.config.image_size

    def _compiled_v(self):
        """A ``tf.function``: (x_t, t, ids, w) -> guided v, caption and null caption in one batch."""
        if self._v is None:
            config, unet, tower = self.config, self.unet, self.tower

            @tf.function(reduce_retracing=True)
            def v(x, t, ids, w, both):
                caption, words, mask = tower(ids)
                b = tf.shape(x)[0]
                if both:  # [caption; null] as one batch of 2B
                    keep = tf.concat([tf.ones((b,)), tf.zeros((b,))], 0)
                    out = unet(unet_inputs(config, tf.concat([x, x], 0), tf.concat([t, t], 0),
                                           tf.concat([caption, caption], 0),
                                           tf.concat([words, words], 0), tf.concat([mask, mask], 0),
                                           keep), training=False)
                    return diffusion.guide(out[:b], out[b:], w)
                keep = tf.fill((b,), tf.cast(w > 0, "float32"))  # w = 0: the null caption alone
                return unet(unet_inputs(config, x, t, caption, words, mask, keep), training=False)
            self._v = v
        return self._v

    def sample(self, prompts, seed: int = 0, n_per_prompt: int = 1, steps=None, guidance=None,
               eta: float = 0.0, batch_size: int = 256) -> np.ndarray:
        """Prompts -> what the model diffuses (N * n_per_prompt, H, W, C) float32, standardised.

        Batch b starts from noise of seed ``[seed, b]`` (numpy's generator), so the same
        prompts, seed, steps and batch size give the same samples.
        """
        seed, n = check_seed(seed), check_count(n_per_prompt, "n_per_prompt")
        c = self.config
        steps = diffusion.check_steps(c.sample_steps if steps is None else steps, c.T)
        w = diffusion.check_guidance(c.guidance if guidance is None else guidance)
        if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not 0 <= eta <= 1:
            raise ValueError(f"eta must be a number in [0, 1] (0 = DDIM, 1 = DDPM), got {eta!r}")
        parsed = text.prompts(prompts)
        ids = np.repeat(np.stack([p.ids for p in parsed]), n, axis=0)
        ts, ab, v = diffusion.timesteps(c.T, steps), self.alpha_bar, self._compiled_v()
        shape = tuple(self.unet.input_shape[0][1:])
        out = []
        for b, i in enumerate(range(0, len(ids), check_count(batch_size, "batch_size"))):
            rng = np.random.default_rng([seed, b])
            chunk = tf.constant(ids[i:i + batch_size])
            x = rng.standard_normal((len(chunk), *shape)).astype("float32")
            for j, t in enumerate(ts):
                ab_s = ab[ts[j + 1]] if j + 1 < len(ts) else 1.0
                pred = v(tf.constant(x), tf.fill((len(chunk),), float(t)), chunk,
                         tf.constant(w), w != 1.0)
                z = rng.standard_normal(x.shape).astype("float32") if eta else None
                x = np.asarray(diffusion.ddim_step(x, pred.numpy(), float(ab[t]), float(ab_s), eta, z),
                               np.float32)
            out.append(x)
        return np.concatenate(out) if out else np.zeros((0, *shape), np.float32)

    def decode(self, x) -> np.ndarray:
        """Samples (N, H, W, C) -> uint8 images: latents through the tokenizer, pixels clipped."""
        if self.config.space == "pixel":
            return to_uint8(np.clip(x, -1, 1))
        z = x * self.std + self.mean  # back to the encoder's scale
        q, _ = self.tokenizer.quantizer(z)  # each latent snapped to its nearest code
        return to_uint8(ops.convert_to_numpy(self.tokenizer.decoder(q)))

    def generate(self, prompts, seed: int = 0, n_per_prompt: int = 1, steps=None, guidance=None,
                 eta: float = 0.0, batch_size: int = 256) -> np.ndarray:
        """Prompts -> uint8 images (N * n_per_prompt, S, S, 3); same prompts and seed -> same images.

        ``steps``: DDIM steps (default the config's 25); ``guidance``: the scale w (default
        3; 1 = no guidance); ``eta``: 0 deterministic DDIM, 1 DDPM-like fresh noise.
        """
        return self.decode(self.sample(prompts, seed, n_per_prompt, steps, guidance, eta,
                                       batch_size))

    # --- files ----------------------------------------------------------------------

    def save(self, folder) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / FILES[0]).write_text(json.dumps(self.config.to_dict(), indent=1) + "\n")
        save_weights_only(self.unet, folder / FILES[1], lambda: build_denoiser(
            self.config, self.tower.dim, self.tower.word_dim, self._code_dim()))
        self.tower.save(folder / FILES[2])
        if self.config.space == "latent":
            (folder / FILES[3]).write_text(json.dumps(
                {"mean": self.mean.ravel().tolist(), "std": self.std.ravel().tolist()}) + "\n")
            self.tokenizer.save(folder / FILES[4])
        return folder

    def _code_dim(self):
        return self.tokenizer.config.code_dim if self.tokenizer is not None else None

    @classmethod
    def load(cls, folder) -> "Diffusion":
        """Load a saved model; problems raise ``WeightsError`` with a one-line reason."""
        folder = Path(folder)
        if not (folder / FILES[0]).is_file():
            raise WeightsError(f"no trained diffusion model in {folder}: missing {FILES[0]} "
                               "(train one with `dalle-edu train --model diffusion`)")
        config = load_config(DiffusionConfig, folder / FILES[0], "config")
        need = FILES[1:3] + (FILES[3:] if config.space == "latent" else ())
        missing = [n for n in need if not (folder / n).exists()]
        if missing:
            raise WeightsError(f"no trained diffusion model in {folder}: missing {', '.join(missing)}")
        tower = TextTower(MiniCLIP.load(folder / FILES[2], text_only=True))
        tokenizer, stats = None, None
        if config.space == "latent":
            tokenizer = VQVAE.load(folder / FILES[4])
            try:
                check_tokenizer(config, tokenizer)
            except ValueError as err:
                raise WeightsError(f"{folder / FILES[4]}: {err}") from None
            s = json.loads((folder / FILES[3]).read_text())
            stats = (np.array(s["mean"], np.float32), np.array(s["std"], np.float32))
        unet = build_denoiser(config, tower.dim, tower.word_dim,
                              tokenizer.config.code_dim if tokenizer else None)
        load_weights_strict(unet, folder / FILES[1])
        return cls(config, unet, tower, tokenizer, stats)
