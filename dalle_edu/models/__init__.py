"""Generators, discriminators, conditioning blocks and the token transformer — Chapters 1-7, 11-12.

* ``mlp``: tiny Dense G/D for toy densities;
* ``dcgan``: convolutional G/D for 32x32 and 64x64 images;
* ``conditioning``: concatenation, projection discriminator, FiLM / conditional BatchNorm;
* ``transformer``: the causal transformer over [caption | image codes] of DALL·E (Chapter 12);
* ``vqvae``: the discrete image tokenizer's pieces — encoder, EMA vector quantizer, decoder
  (Chapter 11); the trainable model is ``dalle_edu.image_tokenizer.VQVAE``.

Every builder returns a functional ``keras.Model`` called as ``G(z)`` / ``D(x)``, or
``G([z, y])`` / ``D([x, y])`` when conditional — the convention ``dalle_edu.GAN`` uses.
``TokenTransformer`` is a ``keras.Model`` subclass instead: ``model(ids)`` gives logits,
``model.sample(text_ids)`` image codes.
"""

from .conditioning import (
    ConditionalBatchNorm, FiLM, ProjectionHead, SpatialTile, condition_input, embed_condition,
    spectral,
)
from .dcgan import dcgan_discriminator, dcgan_generator, split_at_features
from .mlp import mlp_discriminator, mlp_generator
from .transformer import (
    CausalSelfAttention, TokenTransformer, TransformerBlock, TransformerConfig, sequence_loss,
)
from .vqvae import VQConfig, VectorQuantizer, codes_used, perplexity, vq_decoder, vq_encoder

__all__ = [
    "mlp_generator", "mlp_discriminator", "dcgan_generator", "dcgan_discriminator", "split_at_features",
    "ConditionalBatchNorm", "FiLM", "ProjectionHead", "SpatialTile", "condition_input",
    "embed_condition", "spectral",
    "TransformerConfig", "CausalSelfAttention", "TransformerBlock", "TokenTransformer", "sequence_loss",
    "VQConfig", "VectorQuantizer", "vq_encoder", "vq_decoder", "perplexity", "codes_used",
]
