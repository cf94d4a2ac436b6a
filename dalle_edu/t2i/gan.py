"""The two text-to-image GANs: ``GAN`` plus the terms text needs — Chapter 7.

Both: a DCGAN generator with conditional BatchNorm (FiLM) from the condition vector, and
a DCGAN discriminator with a projection head (Miyato & Koyama 2018) and a second head;
the engine's one ``train_step`` (``dalle_edu.GAN``: matching-aware term of Reed et al.,
EMA) plus, through its hooks, one extra term each. They differ in what conditions them:

* ``LabelGAN`` (model ``"gan-labels"``): the condition is the attribute encoder's (B, 23)
  reading of the caption, an encoder trained on the world's labels; D's second head names
  the five attributes (TAC-GAN, Dash et al. 2017). Batches ``(images, (cond, labels,
  said))``: labels (B, 5) the drawn attributes, said (B, 5) 1.0 where the caption names one.
* ``CaptionGAN`` (model ``"gan"``): the condition is the mini-CLIP's caption embedding,
  learned from (image, caption) pairs alone; D's second head embeds images for XMC-GAN's
  contrastive terms. Batches ``(images, caption embeddings)``: no label anywhere.

Images (B, S, S, 3) in [-1, 1].
"""

from __future__ import annotations

import numpy as np
import keras
from keras import ops

from dalle_edu import device
from dalle_edu.data import shapes
from dalle_edu.gan import GAN
from dalle_edu.models import dcgan_discriminator, dcgan_generator
from dalle_edu.pipeline import shuffled_batches, to_float
from dalle_edu.t2i.condition import AUX_SIZES, said_mask
from dalle_edu.t2i.config import T2IConfig
from dalle_edu.t2i.encoder import conditions_for, encode_prompts
from dalle_edu.clip import info_nce, normalise
from dalle_edu.checks import check_image_shape


def aux_loss(aux_logits, labels, mask=None):
    """Sum over the five attributes of the (masked) mean cross-entropy. labels (B, 5) int."""
    total, start = 0.0, 0
    for j, n in enumerate(AUX_SIZES):
        ce = keras.losses.sparse_categorical_crossentropy(
            labels[:, j], aux_logits[:, start:start + n], from_logits=True)  # (B,)
        if mask is not None:
            ce = ce * mask[:, j]
        total += ops.mean(ce)
        start += n
    return total


class LabelGAN(GAN):
    """``GAN`` conditioned on the attribute encoder, with TAC-GAN's auxiliary classifier (Chapter 7).

    D returns ``[logit (B, 1), aux_logits (B, 20)]`` (or the logit alone when
    ``aux_weight`` is 0): D learns to name the attributes of real images, and G is
    rewarded when D reads on its fakes the attributes the prompt names.
    """

    def __init__(self, generator, discriminator, latent_dim, aux_weight=1.0, **kwargs):
        super().__init__(generator, discriminator, latent_dim, conditional="text", **kwargs)
        self.aux_weight = float(aux_weight)

    def unpack_batch(self, data):
        real, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        if not isinstance(y, (tuple, list)) or len(y) != 3:
            raise ValueError("LabelGAN needs (images, (conditions, labels, said)) batches "
                             "(see dalle_edu.t2i.make_dataset)")
        cond, labels, said = y  # (B, 23), (B, 5) int, (B, 5) float
        check_image_shape(self, tuple(real.shape)[1:], "the batch")
        return ops.cast(real, "float32"), cond, (labels, ops.cast(said, "float32"))

    def extra_d_loss(self, real_extras, cond, extra):
        labels, _ = extra  # D learns to name the attributes of real images
        return self.aux_weight * aux_loss(real_extras, labels) if self.aux_weight else 0.0

    def extra_g_loss(self, z, fake, fake_extras, cond, extra):
        labels, said = extra  # ...and G is rewarded when D reads what the prompt says
        return self.aux_weight * aux_loss(fake_extras, labels, said) if self.aux_weight else 0.0


class CaptionGAN(GAN):
    """A text-to-image GAN that never sees a label — Chapter 7 (model ``"gan"``).

    Batches are ``(images, caption embeddings)``: what real data offers. Besides the
    projection head and the matching-aware term, D has a second head that embeds
    images into the captions' space, and XMC-GAN's image-sentence contrastive loss
    (Zhang et al. 2021) is added on both sides: D must match each *real* image to its
    own caption among the batch's captions, and G is rewarded when D matches each
    *fake* to the caption it was drawn from.
    """

    def __init__(self, generator, discriminator, latent_dim, contrastive_weight=1.0,
                 temperature=0.1, **kwargs):
        super().__init__(generator, discriminator, latent_dim, conditional="text", **kwargs)
        self.contrastive_weight, self.temperature = float(contrastive_weight), float(temperature)

    def unpack_batch(self, data):
        real, cond, _ = keras.utils.unpack_x_y_sample_weight(data)
        if cond is None or isinstance(cond, (tuple, list)):
            raise ValueError("CaptionGAN needs (images, caption embeddings) batches "
                             "(see dalle_edu.t2i.make_dataset with text_encoder='clip')")
        check_image_shape(self, tuple(real.shape)[1:], "the batch")
        return ops.cast(real, "float32"), cond, None

    def contrastive(self, image_emb, cond):
        """Symmetric InfoNCE between image embeddings (B, D) and captions (B, D)."""
        sims = ops.matmul(normalise(image_emb), ops.transpose(normalise(cond)))  # (B, B) cosines
        return info_nce(sims / self.temperature)

    def extra_d_loss(self, real_extras, cond, extra):  # D: each real image to its own caption
        return self.contrastive_weight * self.contrastive(real_extras, cond) if self.contrastive_weight else 0.0

    def extra_g_loss(self, z, fake, fake_extras, cond, extra):  # G: each fake to its caption
        return self.contrastive_weight * self.contrastive(fake_extras, cond) if self.contrastive_weight else 0.0


def build_generator(config: T2IConfig):
    """The FiLM DCGAN generator ``G([z, cond])`` for ``config`` (built in its precision)."""
    with device.precision(config.precision):
        return dcgan_generator(config.latent_dim, config.image_size, 3, width=config.width,
                               cond_dim=config.cond_dim, conditioning="film",
                               final_conv=config.final_conv, name="t2i_generator")


def build_discriminator(config: T2IConfig, **kwargs):
    """The projection DCGAN discriminator ``D([x, cond])`` for ``config``, with its second
    head: image embeddings (``"clip"``) or the attribute classifier (``"labels"``)."""
    c = config
    if c.text_encoder == "clip":  # D's second head embeds images for the contrastive terms
        aux = c.cond_dim if c.contrastive_weight else None
    else:  # D's second head names the five attributes (TAC-GAN)
        aux = sum(AUX_SIZES) if c.aux_weight else None
    with device.precision(c.precision):
        return dcgan_discriminator(c.image_size, 3, width=c.width, cond_dim=c.cond_dim,
                                   conditioning="projection", aux_outputs=aux, stem=c.d_stem,
                                   name="t2i_discriminator", **kwargs)


def build_gan(config: T2IConfig, D=None, g_optimizer=None, d_optimizer=None, jit_compile=False,
              gan_class=None):
    """The generator, discriminator and GAN for ``config`` (``CaptionGAN`` for
    ``text_encoder="clip"``, else ``LabelGAN``), compiled with Adam(lr, 0, 0.9) for both.

    Call it inside ``strategy.scope()`` to train on several devices (book: "Several
    devices"). ``gan_class``: a subclass of that class with a term of your own (its
    ``extra_g_loss`` / ``extra_d_loss`` hooks, Chapter 8's exercises). ``D`` and the
    optimizers replace the config's (the benchmarks' ablations).
    """
    c = config
    G, D = build_generator(c), D or build_discriminator(c)
    common = dict(n_critic=c.n_critic, matching_aware=c.matching_aware, ema=c.ema, seed=c.seed)
    family = CaptionGAN if c.text_encoder == "clip" else LabelGAN
    if gan_class is not None and not (isinstance(gan_class, type) and issubclass(gan_class, family)):
        raise ValueError(f"gan_class must be a subclass of {family.__name__} (text_encoder="
                         f"{c.text_encoder!r}), got {gan_class!r}")
    if c.text_encoder == "clip":
        gan = (gan_class or CaptionGAN)(G, D, c.latent_dim, contrastive_weight=c.contrastive_weight,
                                        temperature=c.contrastive_temperature, **common)
    else:
        gan = (gan_class or LabelGAN)(G, D, c.latent_dim, aux_weight=c.aux_weight, **common)
    # SNGAN's betas for both (beta_1 = 0: no momentum, which GAN games punish)
    gan.compile(g_optimizer or keras.optimizers.Adam(c.lr, beta_1=0.0, beta_2=0.9),
                d_optimizer or keras.optimizers.Adam(c.lr, beta_1=0.0, beta_2=0.9),
                loss=c.loss, jit_compile=jit_compile)
    return gan


def make_dataset(config: T2IConfig, encoder, global_batch_size: int | None = None):
    """Endless (images, (cond, labels, said)) batches from the train split, a new order every
    pass, the same stream for every iterator; (images, caption embeddings) for ``"clip"``.

    ``said`` is what each caption names, known exactly when it was written (never
    re-guessed from the encoder's reading).
    """
    batch = int(global_batch_size or config.batch_size)
    images, captions, attrs, mentioned = shapes.sample(config.n_train, "train", seed=config.seed,
                                                       size=config.image_size, return_mentioned=True)
    if config.text_encoder == "clip":  # (images, caption embeddings): no labels at all
        y = conditions_for(config, encoder, captions)
    else:
        labels = np.array([[shapes.VALUES[k].index(a[k]) for k in shapes.KEYS] for a in attrs],
                          np.int32)
        y = (encode_prompts(encoder, captions), labels, said_mask(mentioned))
    ds = shuffled_batches((images, y), batch, seed=config.seed)  # endless
    return ds.map(lambda x, y: (to_float(x), y)).prefetch(2)  # images in [-1, 1]
