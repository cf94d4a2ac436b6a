"""``Dalle``: the real DALL·E, small — an image tokenizer and a token transformer — Chapters 11-12.

DALL·E (Ramesh et al. 2021) is not a GAN. It is two models trained one after the other,
and a third that picks among their samples::

    stage 1  tokenizer     image (S, S, 3)  <->  codes (T, T) in [0, K)      (image_tokenizer.VQVAE)
    stage 2  transformer   p(codes | caption), one code at a time            (models.TokenTransformer)
    stage 3  reranking     k samples per prompt, keep the mini-CLIP's best  (measures.rerank)

``Dalle`` holds stages 1 and 2 and answers the interface every shipped model answers::

    model = Dalle.load("runs/dalle")
    model.generate(["a red circle"], seed=0, n_per_prompt=4)   # uint8 (4, 32, 32, 3)
    model.save(folder)

Drawing one image is 64 calls of the transformer (one per code, 8x8 at 32x32); with the
KV cache each call reads one new token, and ``decode`` is compiled with ``tf.function``
(eager sampling is ~40x slower on a CPU: ``benchmarks/transformer_sampling.py``).
Unlike the GAN, nothing needs filling in for what a prompt leaves unsaid: the caption
"a red circle" simply leaves the transformer free to write any size and place.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import tensorflow as tf

from dalle_edu import configs, text
from dalle_edu.configs import field
from dalle_edu.checkpoint import WeightsError, load_config, load_weights_strict, save_weights_only
from dalle_edu.models.transformer import TokenTransformer, TransformerConfig
from dalle_edu.models.vqvae import VQConfig
from dalle_edu.t2i.model import check_count, check_seed
from dalle_edu.image_tokenizer import VQVAE, check_fits

FILES = ("dalle_config.json", "transformer.weights.h5", "tokenizer")


@dataclasses.dataclass
class DalleConfig(configs.Config):
    """One run of the token model; ``DalleConfig.for_preset(name)`` sizes it for a preset."""

    PRESET_MODEL = "dalle"
    RESUMABLE = ()  # the cosine schedule is tied to ``steps``: a resumed run changes nothing

    image_size: int = field(32, gt=0)
    tokens_per_side: int = field(8, gt=0)  # 8x8 codes at 32x32 (16x16 at 64x64)
    tokenizer: dict = field(default_factory=dict)  # VQConfig overrides (steps, ...)
    # transformer
    width: int = field(128, gt=0)
    depth: int = field(4, gt=0)
    heads: int = field(4, gt=0)
    # DALL·E's loss weights: the caption is given, the image is written
    text_weight: float = field(1 / 8, ge=0, le=1)
    # data: captioned train-split images drawn once, a quarter with size or position left out
    n_train: int = field(40_000, gt=0)
    partial: float = field(0.25, ge=0, le=1)
    # optimisation: AdamW, linear warm-up then cosine decay to lr * min_lr
    steps: int = field(3_000, gt=0)
    batch_size: int = field(64, gt=0)
    lr: float = field(1e-3, gt=0)
    warmup: int = field(200, ge=0)
    min_lr: float = field(0.05, ge=0, le=1)
    weight_decay: float = field(0.01, ge=0)
    # sampling defaults of generate()
    temperature: float = field(1.0, gt=0)
    top_k: int | None = field(8, gt=0)
    seed: int = field(0, ge=0)

    def __post_init__(self):
        super().__post_init__()
        self.vq_config()  # one-line errors for bad tokenizer overrides now, not at stage 1

    def vq_config(self) -> VQConfig:
        return VQConfig.from_dict({"image_size": self.image_size, "seed": self.seed,
                                   "tokens_per_side": self.tokens_per_side, **self.tokenizer})

    def transformer_config(self, codebook_size: int) -> TransformerConfig:
        return TransformerConfig(image_vocab=codebook_size, image_len=self.tokens_per_side ** 2,
                                 width=self.width, depth=self.depth, heads=self.heads,
                                 text_weight=self.text_weight, image_weight=1 - self.text_weight)


def check_sampling(temperature, top_k):
    """Temperature > 0 and top-k >= 1 (or None); anything else is a one-line ``ValueError``."""
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) \
            or not np.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be a number > 0 (1 = the model's own odds), got {temperature!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer))
                              or top_k < 1):
        raise ValueError(f"top_k must be an integer >= 1 (1 = always the likeliest code) or None, "
                         f"got {top_k!r}")


def check_tokenizer(config: DalleConfig, tokenizer: VQVAE) -> VQVAE:
    """The tokenizer must draw the config's image size from its grid of codes; else a one-line ``ValueError``."""
    return check_fits(tokenizer, config.image_size, config.tokens_per_side, "{} codes")


class Dalle:
    """A trained image tokenizer + token transformer: what ``generate(model="dalle")`` uses."""

    def __init__(self, config: DalleConfig, tokenizer: VQVAE, transformer: TokenTransformer):
        self.config, self.tokenizer, self.transformer = config, tokenizer, transformer
        self._decode = None

    @property
    def image_size(self) -> int:
        return self.config.image_size

    def _compiled_decode(self):
        if self._decode is None:  # traced a few times (the cache grows), then general
            self._decode = tf.function(self.transformer.decode, reduce_retracing=True)
        return self._decode

    def codes(self, prompts, seed: int = 0, n_per_prompt: int = 1, temperature=None,
              top_k="default", batch_size: int = 256) -> np.ndarray:
        """Prompts -> image codes (N * n_per_prompt, T, T) in [0, K): stage 2 alone.

        Sequences are drawn ``batch_size`` at a time (the KV cache of 256 sequences at the
        cpu size is ~80 MB); batch b draws its noise from seed ``[seed, b]``, so the same
        prompts, seed and batch size give the same codes.
        """
        seed, n = check_seed(seed), check_count(n_per_prompt, "n_per_prompt")
        temperature = self.config.temperature if temperature is None else temperature
        top_k = self.config.top_k if top_k == "default" else top_k
        check_sampling(temperature, top_k)
        if top_k is not None and top_k > self.transformer.config.image_vocab:
            raise ValueError(f"top_k must be at most the codebook size "
                             f"{self.transformer.config.image_vocab}, got {top_k}")
        parsed = text.prompts(prompts)  # a prompt over the text context fails here, by name
        ids = np.repeat(np.stack([p.ids for p in parsed]), n, axis=0)
        t = self.config.tokens_per_side
        batch_size = check_count(batch_size, "batch_size")
        codes = [self.transformer.sample(ids[i:i + batch_size], temperature=float(temperature),
                                         top_k=top_k, seed=[seed, i // batch_size],
                                         decode=self._compiled_decode())
                 for i in range(0, len(ids), batch_size)]
        return np.concatenate(codes).reshape(-1, t, t)

    def generate(self, prompts, seed: int = 0, n_per_prompt: int = 1, temperature=None,
                 top_k="default", batch_size: int = 256) -> np.ndarray:
        """Prompts -> uint8 images (N * n_per_prompt, S, S, 3); same prompts and seed -> same images.

        ``temperature`` divides the logits (< 1: safer, less varied); ``top_k`` keeps the
        k likeliest codes at each step (None: all). Defaults: the config's.
        """
        return self.tokenizer.decode(self.codes(prompts, seed, n_per_prompt, temperature, top_k,
                                                batch_size))

    # --- files ----------------------------------------------------------------------

    def save(self, folder) -> Path:
        """``dalle_config.json``, ``transformer.weights.h5`` and ``tokenizer/`` in ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / FILES[0]).write_text(json.dumps(self.config.to_dict(), indent=1) + "\n")
        save_weights_only(self.transformer, folder / FILES[1],
                          lambda: TokenTransformer(self.transformer.config))
        self.tokenizer.save(folder / FILES[2])
        return folder

    @classmethod
    def load(cls, folder) -> "Dalle":
        """Load a saved model; problems raise ``WeightsError`` with a one-line reason."""
        folder = Path(folder)
        missing = [n for n in FILES if not (folder / n).exists()]
        if missing:
            raise WeightsError(f"no trained token model in {folder}: missing {', '.join(missing)} "
                               "(train one with `dalle-edu train --model dalle`)")
        config = load_config(DalleConfig, folder / FILES[0], "config")
        tokenizer = VQVAE.load(folder / FILES[2])
        try:
            check_tokenizer(config, tokenizer)
        except ValueError as err:
            raise WeightsError(f"{folder / FILES[2]}: {err}") from None
        transformer = TokenTransformer(config.transformer_config(tokenizer.config.codebook_size))
        load_weights_strict(transformer, folder / FILES[1])
        return cls(config, tokenizer, transformer)
