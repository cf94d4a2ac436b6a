"""Text-to-image models on the shapes world, one module per family — Chapters 7 and 12.

Three families, each answering ``generate / save / load``:

* **GANs** (Chapter 7), in the spirit of Reed et al. (2016): ``LabelGAN`` (model
  ``"gan-labels"``, conditioned on an attribute encoder trained with labels) and
  ``CaptionGAN`` (model ``"gan"``, conditioned on the mini-CLIP's text tower: no labels).
  ``condition`` — the (B, 23) attribute vector; ``encoder`` — the encoder that writes it;
  ``config`` — ``T2IConfig``; ``gan`` — both GANs, ``build_gan``, ``make_dataset``;
  ``model`` — ``TextToImage``, the trained model; ``training`` — ``train``, resumable.
* **The token model** (Chapters 11-12), OpenAI's DALL·E small: ``dalle`` — ``Dalle``, an image
  tokenizer + a token transformer; ``dalle_training`` — ``train_dalle``, its two stages.
* **Diffusion** (Chapter 13), today's recipe small: ``diffusion`` — ``Diffusion``, a U-Net
  guided by the mini-CLIP's text tower, in the tokenizer's latents; ``diffusion_training``
  — ``train_diffusion``.

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
from dalle_edu.t2i.gan import (
    CaptionGAN, LabelGAN, aux_loss, build_discriminator, build_gan, build_generator, make_dataset,
)
from dalle_edu.t2i.model import TextToImage, WeightsError, check_seed
from dalle_edu.t2i.training import train
from dalle_edu.t2i.dalle import Dalle, DalleConfig
from dalle_edu.t2i.dalle_training import make_sequences, train_dalle
from dalle_edu.t2i.diffusion import Diffusion, DiffusionConfig
from dalle_edu.t2i.diffusion_training import train_diffusion

__all__ = [
    "AUX_SIZES", "COND_DIM", "HEADS", "SLICES", "UNSAID", "UNSAID_INDEX", "decode", "fill_unsaid",
    "named_mask", "one_hot", "said_mask", "T2IConfig", "attribute_targets", "build_text_encoder",
    "encode_ids", "encode_prompts", "pretrain_text_encoder", "LabelGAN", "CaptionGAN", "aux_loss",
    "build_gan", "build_generator", "build_discriminator", "make_dataset", "TextToImage", "WeightsError", "check_seed",
    "train", "Dalle", "DalleConfig", "make_sequences", "train_dalle",
    "Diffusion", "DiffusionConfig", "train_diffusion",
]
