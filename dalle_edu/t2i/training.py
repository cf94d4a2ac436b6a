"""Training a text-to-image GAN end to end, resumable — Chapter 7 and ``dalle-edu train``."""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

from dalle_edu import device, trainer
from dalle_edu.t2i.config import T2IConfig
from dalle_edu.t2i.encoder import build_encoder_for, build_text_encoder, pretrain_text_encoder
from dalle_edu.t2i.gan import build_gan, make_dataset
from dalle_edu.t2i.model import TextToImage


def train(config: T2IConfig, out_dir, resume: bool = False, verbose: int = 1, callbacks=(),
          checkpoint_every: int = 500, strategy=None, clip=None, gan_class=None) -> TextToImage:
    """Pretrain the text encoder, train the GAN, save the EMA generator to ``out_dir``.

    With ``config.text_encoder == "clip"`` the condition is a mini-CLIP's text tower,
    frozen: ``clip`` (a ``MiniCLIP`` or its folder) or, if None, one trained now from
    ``config.clip`` (about 1.5 min on 2 cores). Nothing in that run reads a label.

    Checkpoints go to ``out_dir/checkpoints`` every ``checkpoint_every`` steps and at the
    end; ``resume=True`` continues from the newest one exactly (same data order, same
    noise; ``dalle_edu.trainer``: only ``steps`` may change). ``callbacks`` are Keras
    callbacks; each can reach the model being trained as ``self.model.sampler`` (a
    ``TextToImage`` over the EMA generator), which is how training-time evaluation is
    passed in. ``strategy``: a ``tf.distribute`` strategy; ``config.batch_size`` is then
    the global batch, split across its replicas. ``gan_class``: a subclass of the GAN with
    a term of your own (``build_gan``).
    """
    out_dir = Path(out_dir)
    enc_path = out_dir / "text_encoder.weights.h5"
    trainer.epochs_for(config.steps)  # a bad step count fails now, not after the encoder
    if resume:
        if not enc_path.is_file():
            raise ValueError(f"--resume: nothing to resume in {out_dir} (no text encoder saved there)")
        if config.text_encoder == "clip":  # the mini-CLIP the checkpoints were trained with
            config = dataclasses.replace(config, clip=trainer.read_config(T2IConfig, out_dir).clip)
        trainer.start_run(config, out_dir, resume=True)
        device.set_seed(config.seed)
        encoder = build_encoder_for(config)
        encoder.load_weights(enc_path)  # the frozen encoder the checkpoints were trained with
    else:
        device.set_seed(config.seed)
        out_dir.mkdir(parents=True, exist_ok=True)
        if config.text_encoder == "clip":
            clip = _mini_clip(config, clip)
            encoder, config = clip.text_encoder, dataclasses.replace(config, clip=clip.config.to_dict())
        else:
            encoder = build_text_encoder(config.embed_dim)
            pretrain_text_encoder(encoder, config.encoder_steps, seed=config.seed)
        encoder.save_weights(enc_path)
        trainer.start_run(config, out_dir, resume=False)

    device.set_seed(config.seed)  # the GAN's first weights: the same, fresh or resumed
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        gan = build_gan(config, gan_class=gan_class)
    gan.sampler = TextToImage(config, encoder, gan.ema_generator or gan.generator)
    trainer.train_run(gan, make_dataset(config, encoder), config.steps, out_dir, resume,
                      callbacks=callbacks, verbose=verbose, checkpoint_every=checkpoint_every)
    model = TextToImage(config, encoder, gan.ema_generator or gan.generator)
    model.save(out_dir)
    return model


def _mini_clip(config: T2IConfig, clip):
    """The mini-CLIP a "clip" run is conditioned on: given, loaded, or trained now."""
    from dalle_edu import clip as clip_module

    if clip is None:
        c = clip_module.ClipConfig.from_dict({"image_size": config.image_size, "seed": config.seed,
                                              **(config.clip or {})})
        return clip_module.train_clip(c, verbose=0)
    if isinstance(clip, clip_module.MiniCLIP):
        return clip
    return clip_module.MiniCLIP.load(clip, text_only=True)
