"""The text-to-image GAN: ``GAN`` plus the terms text needs — Chapter 6.

* **Generator**: DCGAN with conditional BatchNorm (FiLM) from the condition vector.
* **Discriminator**: DCGAN with a projection head (Miyato & Koyama 2018) and an auxiliary
  classifier head that names the five attributes (TAC-GAN, Dash et al. 2017).
* **Training** (``TextToImageGAN``): the engine's one ``train_step`` (``dalle_edu.GAN``:
  ``n_critic``, gradient penalty, matching-aware term of Reed et al., EMA) plus, through
  its hooks, the auxiliary loss (D learns to name the attributes of *real* images; G is
  rewarded when D reads the attributes its prompt names), optional GAN-INT (G also
  trained on interpolated captions) and an optional mode-seeking term (MSGAN).

Batches: ``(images, (cond, labels, said))`` — images (B, S, S, 3) in [-1, 1], cond
(B, COND_DIM) from the text encoder, labels (B, 5) the drawn attributes (for D's
auxiliary head on real images), said (B, 5) 1.0 where the caption names the attribute.
"""

from __future__ import annotations

import numpy as np
import keras
import tensorflow as tf
from keras import ops

from dalle_edu import device, text
from dalle_edu.data import shapes
from dalle_edu.distribute import roll_rows
from dalle_edu.gan import GAN
from dalle_edu.models import dcgan_discriminator, dcgan_generator
from dalle_edu.pipeline import to_float
from dalle_edu.t2i.condition import AUX_SIZES, said_mask
from dalle_edu.t2i.config import T2IConfig
from dalle_edu.t2i.encoder import conditions_for, encode_prompts
from dalle_edu.clip import info_nce, normalise


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


class TextToImageGAN(GAN):
    """``GAN`` with TAC-GAN's auxiliary classifier, GAN-INT and MSGAN as hook terms (Chapter 6).

    D returns ``[logit (B, 1), aux_logits (B, 20)]`` (or the logit alone when
    ``aux_weight`` is 0).
    """

    def __init__(self, generator, discriminator, latent_dim, aux_weight=1.0, gan_int=False,
                 mode_seeking=0.0, **kwargs):
        super().__init__(generator, discriminator, latent_dim, conditional="text", **kwargs)
        self.aux_weight, self.gan_int = float(aux_weight), bool(gan_int)
        self.mode_seeking = float(mode_seeking)

    def unpack_batch(self, data):
        real, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        if not isinstance(y, (tuple, list)) or len(y) != 3:
            raise ValueError("TextToImageGAN needs (images, (conditions, labels, said)) batches "
                             "(see dalle_edu.t2i.make_dataset)")
        cond, labels, said = y  # (B, 23), (B, 5) int, (B, 5) float
        self._check_image_shape(tuple(real.shape)[1:], "the batch")
        return ops.cast(real, "float32"), cond, (labels, ops.cast(said, "float32"))

    def extra_d_loss(self, real_extras, cond, extra):
        if not self.aux_weight:
            return None
        labels, _ = extra  # D learns to name the attributes of real images
        return self.aux_weight * aux_loss(real_extras, labels)

    def extra_g_loss(self, z, fake, fake_extras, cond, extra):
        labels, said = extra
        batch = ops.shape(fake)[0]
        g_loss = 0.0
        if self.aux_weight:  # ...and G is rewarded when D reads what the prompt says
            g_loss += self.aux_weight * aux_loss(fake_extras, labels, said)
        if self.gan_int:  # GAN-INT: captions halfway between two of the batch's
            mixed = 0.5 * (cond + roll_rows(cond))  # roll over the global batch
            fake_mixed = ops.cast(self._G(self._noise(batch), mixed, training=True), "float32")
            inter, _ = self._D_logits(fake_mixed, mixed)
            g_loss += self.loss_pair.g_loss(inter)
        if self.mode_seeking:  # MSGAN: two noises, same caption -> the images must differ
            # ...but only where the caption leaves something free (size or position
            # unsaid): a full caption fixes the picture up to a little jitter.
            free = 1.0 - said[:, 2] * said[:, 3] * said[:, 4]  # (B,)
            z2 = self._noise(batch)
            fake2 = ops.cast(self._G(z2, cond, training=True), "float32")
            ratio = (ops.mean(ops.abs(fake - fake2), axis=(1, 2, 3))
                     / ops.mean(ops.abs(z - z2), axis=1))  # (B,)
            g_loss += self.mode_seeking * (ops.sum(free / (ratio + 1e-5))
                                           / ops.maximum(ops.sum(free), 1.0))
        return g_loss


class CaptionGAN(GAN):
    """A text-to-image GAN that never sees a label — Chapter 6 (model ``"gan"``).

    Batches are ``(images, caption embeddings)``: what real data offers. Besides the
    projection head and the matching-aware term, D has a second head that embeds
    images into the captions' space, and XMC-GAN's image-sentence contrastive loss
    (Zhang et al. 2021) is added on both sides: D must match each *real* image to its
    own caption among the batch's captions, and G is rewarded when D matches each
    *fake* to the caption it was drawn from.

    ``clip_image`` (optional, frozen): the mini-CLIP's image tower. With ``clip_weight``
    > 0, G is also rewarded when the *mini-CLIP* matches each fake to its caption among
    the batch's (LAFITE, Zhou et al. 2022): a judge that already knows what captions
    mean, from pictures and captions alone. G is then trained against the mini-CLIP, so
    the CLIP score and R-precision of this model are lenient judges of it (Chapter 9
    grades it with the geometry check).
    """

    def __init__(self, generator, discriminator, latent_dim, contrastive_weight=1.0,
                 temperature=0.1, clip_image=None, clip_weight=0.0, clip_temperature=0.05,
                 text_encoder=None, **kwargs):
        super().__init__(generator, discriminator, latent_dim, conditional="text", **kwargs)
        # text_encoder (optional): the mini-CLIP's text tower, fine-tuned. Batches then
        # carry token ids, and every condition is embedded inside the step: D's passes
        # (matching-aware and contrastive terms) send gradients to the tower, which D's
        # optimizer updates; G reads the same embedding but never changes it.
        self.text_encoder = text_encoder
        if text_encoder is not None:
            text_encoder.trainable = True
        self.contrastive_weight, self.temperature = float(contrastive_weight), float(temperature)
        if clip_weight and clip_image is None:
            raise ValueError("clip_weight > 0 needs clip_image (the mini-CLIP's image tower)")
        self.clip_image, self.clip_weight = clip_image, float(clip_weight)
        self.clip_temperature = float(clip_temperature)
        if clip_image is not None:
            clip_image.trainable = False  # a fixed judge: never updated by the GAN

    @property
    def d_variables(self):
        if self.text_encoder is None:
            return super().d_variables
        return [*self.discriminator.trainable_variables, *self.text_encoder.trainable_variables]

    @property
    def extra_state(self):
        """The fine-tuned text tower's weights are training state too (checkpoints, resume)."""
        return [] if self.text_encoder is None else list(self.text_encoder.weights)

    def unpack_batch(self, data):
        real, cond, _ = keras.utils.unpack_x_y_sample_weight(data)
        if cond is None or isinstance(cond, (tuple, list)):
            raise ValueError("CaptionGAN needs (images, caption embeddings) batches, or "
                             "(images, token ids) with a fine-tuned text tower "
                             "(see dalle_edu.t2i.make_dataset with text_encoder='clip')")
        self._check_image_shape(tuple(real.shape)[1:], "the batch")
        return ops.cast(real, "float32"), cond, None

    def _embed(self, cond):
        """Token ids (B, T) -> unit caption embeddings (B, D) through the fine-tuned tower;
        embeddings (float) pass through unchanged."""
        if self.text_encoder is None or "int" not in str(cond.dtype):
            return cond
        return normalise(ops.cast(self.text_encoder(cond, training=True), "float32"))

    def _G(self, z, cond, training, net=None):
        return super()._G(z, ops.stop_gradient(self._embed(cond)), training, net)

    def _d_condition(self, cond):
        return self._embed(cond)

    def _contrastive(self, image_emb, cond, temperature=None):
        """Symmetric InfoNCE between image embeddings (B, D) and captions (B, D)."""
        sims = ops.matmul(normalise(image_emb), ops.transpose(normalise(cond)))  # (B, B) cosines
        return info_nce(sims / (temperature or self.temperature))

    def extra_d_loss(self, real_extras, cond, extra):
        if not self.contrastive_weight:
            return None
        return self.contrastive_weight * self._contrastive(real_extras, self._embed(cond))

    def extra_g_loss(self, z, fake, fake_extras, cond, extra):
        cond = ops.stop_gradient(self._embed(cond))
        g_loss = 0.0
        if self.contrastive_weight:
            g_loss += self.contrastive_weight * self._contrastive(fake_extras, cond)
        if self.clip_weight:
            emb = ops.cast(self.clip_image(fake, training=False), "float32")
            g_loss += self.clip_weight * self._contrastive(emb, cond, self.clip_temperature)
        return g_loss if (self.contrastive_weight or self.clip_weight) else None


class HoldThenLinear(keras.optimizers.schedules.LearningRateSchedule):
    """``lr`` for the first ``steps - decay_steps`` updates, then linearly down to 0 at ``steps``."""

    def __init__(self, lr: float, steps: int, decay_steps: int):
        self.lr, self.steps, self.decay_steps = float(lr), int(steps), max(int(decay_steps), 1)

    def __call__(self, step):
        done = (ops.cast(step, "float32") - (self.steps - self.decay_steps)) / self.decay_steps
        return self.lr * (1.0 - ops.clip(done, 0.0, 1.0))

    def get_config(self):
        return {"lr": self.lr, "steps": self.steps, "decay_steps": self.decay_steps}


def build_generator(config: T2IConfig):
    """The FiLM DCGAN generator ``G([z, cond])`` for ``config`` (built in its precision)."""
    with device.precision(config.precision):
        return dcgan_generator(config.latent_dim, config.image_size, 3, width=config.width,
                               cond_dim=config.cond_dim, conditioning="film",
                               final_conv=config.final_conv, name="t2i_generator")


def build_gan(config: T2IConfig, clip_image=None, text_encoder=None):
    """The generator, discriminator and ``TextToImageGAN`` for ``config`` (compiled).

    ``clip_image``: the mini-CLIP's image tower, needed when ``config.clip_weight`` > 0.
    ``text_encoder``: the mini-CLIP's text tower, needed when ``config.text_finetune``.

    Call it inside ``strategy.scope()`` to train on several devices (book: "Several devices").
    """
    c = config
    G = build_generator(c)
    if c.text_encoder == "clip":  # D's second head embeds images for the contrastive terms
        aux = c.cond_dim if c.contrastive_weight else None
    else:  # D's second head names the five attributes (TAC-GAN)
        aux = sum(AUX_SIZES) if c.aux_weight else None
    with device.precision(c.precision):
        D = dcgan_discriminator(c.image_size, 3, width=c.width, cond_dim=c.cond_dim,
                                conditioning="projection", aux_outputs=aux,
                                spectral_norm=c.spectral_norm, stem=c.d_stem,
                                name="t2i_discriminator")
    common = dict(n_critic=c.n_critic, matching_aware=c.matching_aware, ema=c.ema, seed=c.seed,
                  r1_gamma=c.r1_gamma)
    if c.text_finetune and text_encoder is None:
        raise ValueError("text_finetune needs the text tower to fine-tune (text_encoder=...)")
    if c.text_encoder == "clip":
        gan = CaptionGAN(G, D, c.latent_dim, contrastive_weight=c.contrastive_weight,
                         temperature=c.contrastive_temperature, clip_image=clip_image,
                         clip_weight=c.clip_weight,
                         text_encoder=text_encoder if c.text_finetune else None, **common)
    else:
        gan = TextToImageGAN(G, D, c.latent_dim, aux_weight=c.aux_weight, gan_int=c.gan_int,
                             mode_seeking=c.mode_seeking, **common)
    def opt(lr, per_step):  # SNGAN's betas; the optimizer counts its own updates
        if c.lr_decay:
            lr = HoldThenLinear(lr, c.steps * per_step, round(c.lr_decay * c.steps * per_step))
        elif c.lr_drop_at:  # lr for updates 0 .. at-1, then lr * lr_drop (Keras: step <= boundary)
            lr = keras.optimizers.schedules.PiecewiseConstantDecay(
                [c.lr_drop_at * per_step - 1], [lr, lr * c.lr_drop])
        return keras.optimizers.Adam(lr, beta_1=0.0, beta_2=0.9)

    gan.compile(opt(c.lr, 1), opt(c.d_lr or c.lr, c.n_critic), loss=c.loss,
                jit_compile=c.jit_compile)
    return gan


def make_dataset(config: T2IConfig, encoder, global_batch_size: int | None = None):
    """(images, (cond, labels, said)) batches from the train split, seeded and repeatable;
    (images, caption embeddings) for ``text_encoder="clip"``.

    ``said`` is what each caption names, known exactly when it was written (never
    re-guessed from the encoder's reading).
    """
    batch = int(global_batch_size or config.batch_size)
    images, captions, attrs, mentioned = shapes.sample(config.n_train, "train", seed=config.seed,
                                                       size=config.image_size, return_mentioned=True)
    if config.text_finetune:  # (images, token ids): the tower embeds them inside the step
        y = text.encode(captions)
    elif config.text_encoder == "clip":  # (images, caption embeddings): no labels at all
        y = conditions_for(config, encoder, captions)
    else:
        labels = np.array([[shapes.VALUES[k].index(a[k]) for k in shapes.KEYS] for a in attrs],
                          np.int32)
        y = (encode_prompts(encoder, captions), labels, said_mask(mentioned))
    ds = tf.data.Dataset.from_tensor_slices((images, y))
    ds = ds.shuffle(len(images), seed=config.seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch, drop_remainder=True)
    return ds.map(lambda x, y: (to_float(x), y)).prefetch(tf.data.AUTOTUNE)
