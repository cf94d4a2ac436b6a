"""The simple DALL·E: a text-conditional GAN on the shapes world — Chapter 6.

A text-to-image GAN in the spirit of Reed et al. (2016), *not* OpenAI's DALL·E (a
discrete VAE plus an autoregressive transformer with CLIP reranking). One module a job:

* ``condition`` — the (B, 23) condition vector: its layout, decoding, the unsaid heads;
* ``encoder``   — the additive text encoder that writes it;
* ``config``    — ``T2IConfig`` (sizes per preset live in ``dalle_edu.presets``);
* ``gan``       — ``TextToImageGAN`` (the engine's ``train_step`` plus hook terms),
  ``build_gan``, ``make_dataset``;
* ``model``     — ``TextToImage``: ``generate / save / load``, the shipped model's class;
* ``training``  — ``train``: encoder, GAN, checkpoints, resume;
* ``dalle``, ``dalle_training`` — the real DALL·E, small (Chapter 10): ``Dalle``, an image
  tokenizer + a token transformer, and ``train_dalle``, its two stages, resumable.

Shapes: z (B, latent); condition (B, COND_DIM); images (B, S, S, 3) in [-1, 1].
"""

from dalle_edu.t2i.condition import (
    AUX_SIZES, COND_DIM, HEADS, SLICES, UNSAID, UNSAID_INDEX, decode, fill_unsaid, named_mask,
    one_hot, said_mask,
)
from dalle_edu.t2i.config import T2IConfig
from dalle_edu.t2i.encoder import (
    attribute_targets, build_text_encoder, encode_ids, encode_prompts, pretrain_text_encoder,
)
from dalle_edu.t2i.gan import TextToImageGAN, aux_loss, build_gan, build_generator, make_dataset
from dalle_edu.t2i.model import TextToImage, WeightsError, check_seed
from dalle_edu.t2i.training import train
from dalle_edu.t2i.dalle import Dalle, DalleConfig
from dalle_edu.t2i.dalle_training import make_sequences, train_dalle

__all__ = [
    "AUX_SIZES", "COND_DIM", "HEADS", "SLICES", "UNSAID", "UNSAID_INDEX", "decode", "fill_unsaid",
    "named_mask", "one_hot", "said_mask", "T2IConfig", "attribute_targets", "build_text_encoder",
    "encode_ids", "encode_prompts", "pretrain_text_encoder", "TextToImageGAN", "aux_loss",
    "build_gan", "build_generator", "make_dataset", "TextToImage", "WeightsError", "check_seed",
    "train", "Dalle", "DalleConfig", "make_sequences", "train_dalle",
]
