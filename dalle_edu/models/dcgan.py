"""DCGAN generator and discriminator (Radford et al. 2016), optionally conditional — Chapters 4, 5, 7.

The DCGAN recipe, as the paper lists it:

* no pooling: G upsamples with strided transposed convolutions, D downsamples with
  strided convolutions;
* BatchNorm in G (every block but the output), ReLU in G, ``tanh`` output so images
  live in [-1, 1];
* LeakyReLU(0.2) in D.

One deliberate departure: **no BatchNorm in D**. BatchNorm makes each sample's score
depend on the rest of the batch, which breaks the per-sample gradient penalty of
WGAN-GP and lets D tell "all-real" from "all-fake" batches apart. Without it the same
D serves every loss in ``dalle_edu.losses``.

Shapes for ``image_size=32, width=64`` (``k = log2(image_size / 4)`` blocks; 3 here, 4 at 64):

    G: z (B, latent) -> Dense -> (B, 4, 4, 256) -> (B, 8, 8, 128) -> (B, 16, 16, 64)
       -> (B, 32, 32, channels) tanh
    D: x (B, 32, 32, channels) -> (B, 16, 16, 64) -> (B, 8, 8, 128) -> (B, 4, 4, 256)
       -> flatten (B, 4096) -> (B, 1) logit

Call conventions (what ``dalle_edu.GAN`` expects): unconditional ``G(z)``, ``D(x)``;
conditional ``G([z, y])``, ``D([x, y])`` with y int labels (B, 1) or (B,), or float
vectors (B, cond_dim).
"""

from __future__ import annotations

import math

import keras
from keras import layers

from .conditioning import (
    ConditionalBatchNorm, ProjectionHead, SpatialTile, check_condition_args,
    condition_input, embed_condition, spectral,
)

__all__ = ["dcgan_generator", "dcgan_discriminator", "num_blocks", "split_at_features"]


def num_blocks(image_size: int) -> int:
    """How many x2 resolution steps lie between 4x4 and ``image_size`` (3 for 32, 4 for 64)."""
    k = math.log2(image_size / 4) if image_size > 0 else -1
    if image_size < 8 or k != int(k):
        raise ValueError(
            f"image_size must be a power of two >= 8 (the course uses 32 and 64), got {image_size}"
        )
    return int(k)


def _check_conditioning(conditioning, allowed, kind):
    if conditioning not in allowed:
        raise ValueError(f"conditioning must be one of {allowed}, got {conditioning!r}")
    return kind is not None


def dcgan_generator(latent_dim=100, image_size=32, channels=1, width=64, num_classes=None,
                    cond_dim=None, conditioning="concat", embed_dim=32, final_conv=False,
                    name="dcgan_generator"):
    """DCGAN generator: noise (and condition) -> (B, image_size, image_size, channels) in [-1, 1].

    ``conditioning="concat"`` appends the condition's embedding to z (Chapter 5);
    ``"film"`` replaces every BatchNorm by a conditional BatchNorm (Chapter 7).
    ``final_conv=True`` ends G as SNGAN's and BigGAN's generators do: the last upsampling
    makes ``width // 2`` feature maps at full resolution (normalised, ReLU), and a 3x3
    convolution turns them into pixels. DCGAN's last layer instead writes each pixel
    from a 2x2 patch of half-resolution features through one of four kernels; with
    colour images its channels' edges then fall in slightly different places (the book's
    results page, "Colour fringes", measures what this leaves).
    """
    blocks = num_blocks(image_size)
    kind = check_condition_args(num_classes, cond_dim)
    conditional = _check_conditioning(conditioning, ("concat", "film"), kind)

    z = keras.Input(shape=(latent_dim,), name="z")  # (B, latent)
    inputs, h, e = [z], z, None
    if conditional:
        y = condition_input(num_classes, cond_dim)
        inputs.append(y)
        e = embed_condition(y, num_classes, cond_dim, embed_dim, name="g_cond_embed")  # (B, E)
        if conditioning == "concat":
            h = layers.Concatenate(name="z_and_cond")([z, e])  # (B, latent + E)

    def norm(h, i):
        if conditional and conditioning == "film":
            return ConditionalBatchNorm(name=f"cbn_{i}")([h, e])
        return layers.BatchNormalization(name=f"bn_{i}")(h)

    c0 = width * 2 ** (blocks - 1)  # channels at 4x4; halved at every upsampling
    h = layers.Dense(4 * 4 * c0, use_bias=False, name="project")(h)  # (B, 16 * c0)
    h = layers.Reshape((4, 4, c0), name="to_4x4")(h)  # (B, 4, 4, c0)
    h = layers.ReLU()(norm(h, 0))
    for i in range(1, blocks):
        c = c0 // 2 ** i
        # (B, s, s, 2c) -> (B, 2s, 2s, c); no bias: BatchNorm's shift replaces it
        h = layers.Conv2DTranspose(c, 4, strides=2, padding="same", use_bias=False,
                                   name=f"up_{i}")(h)
        h = layers.ReLU()(norm(h, i))
    if final_conv:  # (B, S/2, S/2, width) -> (B, S, S, width / 2) -> 3x3 conv to pixels
        h = layers.Conv2DTranspose(max(width // 2, 1), 4, strides=2, padding="same",
                                   use_bias=False, name=f"up_{blocks}")(h)
        h = layers.ReLU()(norm(h, blocks))
        out = layers.Conv2D(channels, 3, padding="same", activation="tanh", name="to_image")(h)
    else:  # last upsampling straight to pixels: (B, S/2, S/2, width) -> (B, S, S, channels)
        out = layers.Conv2DTranspose(channels, 4, strides=2, padding="same", activation="tanh",
                                     name="to_image")(h)
    return keras.Model(inputs if conditional else z, out, name=name)


def dcgan_discriminator(image_size=32, channels=1, width=64, num_classes=None, cond_dim=None,
                        conditioning="concat", embed_dim=8, aux_outputs=None, spectral_norm=False,
                        stem=False, name="dcgan_discriminator"):
    """DCGAN discriminator: image (and condition) -> (B, 1) logit (raw score, no sigmoid).

    ``conditioning="concat"`` tiles an ``embed_dim``-wide condition embedding over the
    image as extra channels (Chapter 5); ``"projection"`` adds ``<embed(y), phi(x)>`` to
    the output (Miyato & Koyama 2018, Chapter 5). ``aux_outputs=K`` adds a second output,
    (B, K) classification logits read from the same features (the auxiliary classifier
    of AC-GAN / TAC-GAN, Chapter 7): the model then returns ``[logit, aux_logits]``.
    ``spectral_norm=True`` divides every weight matrix by its largest singular value
    (Miyato et al. 2018, one power iteration per step; Chapter 3), which makes D
    1-Lipschitz layer by layer — the alternative to a gradient penalty.
    ``stem=True`` starts D as SNGAN's does, with a 3x3 convolution at full resolution
    (``width // 2`` maps) before the first downsampling, so that one-pixel detail (a
    colour fringe along an edge) is judged before any stride skips over it.
    """
    sn = spectral if spectral_norm else (lambda layer: layer)
    blocks = num_blocks(image_size)
    kind = check_condition_args(num_classes, cond_dim)
    conditional = _check_conditioning(conditioning, ("concat", "projection"), kind)

    x = keras.Input(shape=(image_size, image_size, channels), name="image")  # (B, S, S, ch)
    inputs, h = [x], x
    if conditional:
        y = condition_input(num_classes, cond_dim)
        inputs.append(y)
        if conditioning == "concat":
            e = embed_condition(y, num_classes, cond_dim, embed_dim, name="d_cond_embed")  # (B, E)
            e = SpatialTile(image_size, image_size, name="tile_cond")(e)  # (B, S, S, E)
            h = layers.Concatenate(name="image_and_cond")([x, e])  # (B, S, S, ch + E)
    if stem:  # (B, S, S, ch) -> (B, S, S, width / 2)
        h = sn(layers.Conv2D(max(width // 2, 1), 3, padding="same", name="stem"))(h)
        h = layers.LeakyReLU(0.2)(h)
    for i in range(blocks):
        # (B, s, s, c_in) -> (B, s/2, s/2, width * 2^i)
        h = sn(layers.Conv2D(width * 2 ** i, 4, strides=2, padding="same", name=f"down_{i}"))(h)
        h = layers.LeakyReLU(0.2)(h)
    phi = layers.Flatten(name="features")(h)  # (B, 16 * width * 2^(blocks-1))
    if conditional and conditioning == "projection":
        out = ProjectionHead(num_classes, cond_dim, spectral_norm=spectral_norm,
                             name="projection")([phi, inputs[1]])
    else:
        out = sn(layers.Dense(1, name="logit"))(phi)  # (B, 1)
    if aux_outputs:
        out = [out, sn(layers.Dense(int(aux_outputs), name="aux_logits"))(phi)]  # + (B, K)
    return keras.Model(inputs if conditional else x, out, name=name)


def split_at_features(discriminator, layer="features"):
    """A conditional D -> ``(features, head)`` with ``D([x, y]) == head([features(x), y])``, or None.

    A projection discriminator reads the condition only in its last layer, so an image's
    features do not depend on its caption: ``GAN`` judges the real images with their
    neighbours' captions (the matching-aware pass) by reusing the real images' features
    and running the head alone. Both parts hold D's own layers (no new weights).
    None when D has no layer ``layer`` or its features read the condition
    (``conditioning="concat"`` tiles it over the image).
    """
    inputs = getattr(discriminator, "inputs", None) or []
    if len(inputs) != 2:
        return None
    try:
        phi = discriminator.get_layer(layer).output                   # (B, F)
        outputs = discriminator.outputs
        outputs = outputs[0] if len(outputs) == 1 else outputs        # D's own structure
        features = keras.Model(inputs[0], phi, name=f"{discriminator.name}_features")
        head = keras.Model([phi, inputs[1]], outputs, name=f"{discriminator.name}_head")
    except ValueError:  # no such layer, or the features need the condition
        return None
    if tuple(head.inputs[1].shape) != tuple(inputs[1].shape):  # D transforms its condition
        return None                                            # (a text tower inside D)
    return features, head
