"""Training the text-to-image GAN end to end, resumable — Chapter 6 and ``dalle-edu train``."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import warnings
from pathlib import Path

from dalle_edu import callbacks as cbs
from dalle_edu import device
from dalle_edu.checkpoint import latest_checkpoint
from dalle_edu.t2i.config import T2IConfig
from dalle_edu.t2i.encoder import build_encoder_for, build_text_encoder, pretrain_text_encoder
from dalle_edu.t2i.gan import build_gan, make_dataset
from dalle_edu.t2i.model import TextToImage

STEPS_PER_EPOCH = 500  # one Keras "epoch": callbacks (evaluation, sample grids) run this often


def train(config: T2IConfig, out_dir, resume: bool = False, verbose: int = 1, callbacks=(),
          checkpoint_every: int = 500, strategy=None, clip=None) -> TextToImage:
    """Pretrain the text encoder, train the GAN, save the EMA generator to ``out_dir``.

    With ``config.text_encoder == "clip"`` the condition is a mini-CLIP's text tower,
    frozen: ``clip`` (a ``MiniCLIP`` or its folder) or, if None, one trained now from
    ``config.clip`` (about 1.5 min on 2 cores). Nothing in that run reads a label.

    Checkpoints go to ``out_dir/checkpoints`` every ``checkpoint_every`` steps and at the
    end; ``resume=True`` continues from the newest one exactly (same data order, same
    noise). ``callbacks`` are Keras callbacks; each can reach the model being trained as
    ``self.model.sampler`` (a ``TextToImage`` over the EMA generator), which is how
    training-time evaluation is passed in (``dalle_edu.evaluation.FidelityLog``).
    ``strategy``: a ``tf.distribute`` strategy; ``config.batch_size`` is then the global
    batch, split across its replicas.
    """
    out_dir = Path(out_dir)
    ckpt_dir = out_dir / "checkpoints"
    device.set_seed(config.seed, deterministic=not config.jit_compile)  # XLA needs it off
    enc_path = out_dir / "text_encoder.weights.h5"
    if resume:
        if not enc_path.is_file():
            raise ValueError(f"--resume: nothing to resume in {out_dir} (no text encoder saved there)")
        if latest_checkpoint(ckpt_dir) is None:
            raise ValueError(f"--resume: no checkpoint in {ckpt_dir}")
        clip_image = None
        saved = T2IConfig.from_dict(json.loads((out_dir / "config.json").read_text()))
        _warn_if_schedule_moves(saved, config)
        if config.text_encoder == "clip":  # the mini-CLIP the checkpoints were trained with
            config = dataclasses.replace(config, clip=saved.clip)
            if config.clip_weight:
                from dalle_edu.clip import MiniCLIP

                clip_image = MiniCLIP.load(out_dir / "clip").image_encoder
        encoder = build_encoder_for(config)
        encoder.load_weights(enc_path)  # the frozen encoder the checkpoints were trained with
    else:
        clip_image = None
        out_dir.mkdir(parents=True, exist_ok=True)
        if config.text_encoder == "clip":
            clip = _mini_clip(config, clip)
            encoder, config = clip.text_encoder, dataclasses.replace(config, clip=clip.config.to_dict())
            if config.text_finetune:  # a copy: the caller's mini-CLIP is never changed
                encoder = build_encoder_for(config)
                encoder.set_weights(clip.text_encoder.get_weights())
            if config.clip_weight:
                clip_image = clip.image_encoder
                clip.save(out_dir / "clip")  # a resumed run needs the same judge
        else:
            encoder = build_text_encoder(config.embed_dim)
            pretrain_text_encoder(encoder, config.encoder_steps, seed=config.seed)
        encoder.save_weights(enc_path)
    if not resume:  # a resumed run keeps the folder's record until it ends (model.save)
        (out_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=1) + "\n")

    steps_per_epoch = min(STEPS_PER_EPOCH, config.steps)
    if config.steps % steps_per_epoch:
        raise ValueError(f"steps ({config.steps}) must be a multiple of {steps_per_epoch}")
    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    with scope:
        gan = build_gan(config, clip_image=clip_image,
                        text_encoder=encoder if config.text_finetune else None)
    ds = make_dataset(config, encoder)
    gan.sampler = TextToImage(config, encoder, gan.ema_generator or gan.generator)
    callbacks = [cbs.Checkpoint(ckpt_dir, every_n_steps=checkpoint_every, keep=2),
                 cbs.NaNGuard(checkpoint_dir=ckpt_dir), *callbacks]
    gan.fit(ds.repeat(), epochs=config.steps // steps_per_epoch, steps_per_epoch=steps_per_epoch,
            callbacks=callbacks, verbose=verbose, resume_from=ckpt_dir if resume else None)
    model = TextToImage(config, encoder, gan.ema_generator or gan.generator)
    model.save(out_dir)
    return model


def _warn_if_schedule_moves(saved: T2IConfig, config: T2IConfig) -> None:
    """Resuming is exact for the same run; with a decaying rate, more steps are another run.

    ``lr_decay`` ties the rate to ``steps``: a 6,000-step run with ``lr_decay=0.5`` has
    reached a rate of 0 at its end, and resuming it with ``steps=16_000`` raises the rate
    back to the full one (a warm restart), unlike a 16,000-step run from scratch. (A new
    constant rate is refused by ``checkpoint.resume``, for every model.) A step schedule
    (``lr_drop_at``) drops at a step, not at a share of the steps: more steps continue it
    exactly, but a moved drop is another run.
    """
    moved = (saved.lr_drop_at, saved.lr_drop) != (config.lr_drop_at, config.lr_drop)
    if moved and saved.lr_drop_at and config.lr_drop_at:  # (constant <-> schedule: refused)
        warnings.warn(
            f"resuming a run whose rates drop x{saved.lr_drop} at step {saved.lr_drop_at:,} "
            f"with a drop x{config.lr_drop} at step {config.lr_drop_at:,}: the steps already "
            "trained followed the old schedule, so this is not one run of the new schedule "
            "unless the checkpoint lies before both drops", stacklevel=3)
    if (saved.steps, saved.lr_decay) == (config.steps, config.lr_decay):
        return
    if saved.lr_decay or config.lr_decay:
        warnings.warn(
            f"resuming a {saved.steps:,}-step run (lr_decay={saved.lr_decay}) as a "
            f"{config.steps:,}-step run (lr_decay={config.lr_decay}): the learning-rate "
            "schedule follows the new steps from where the checkpoint stands, so the rate "
            "jumps back up instead of staying where the first run left it; to train "
            f"exactly as one {config.steps:,}-step run, start a fresh one", stacklevel=3)


def _mini_clip(config: T2IConfig, clip):
    """The mini-CLIP a "clip" run is conditioned on: given, loaded, or trained now."""
    from dalle_edu import clip as clip_module

    if clip is None:
        c = clip_module.ClipConfig.from_dict({"image_size": config.image_size, "seed": config.seed,
                                              **(config.clip or {})})
        return clip_module.train_clip(c, verbose=0)
    if isinstance(clip, clip_module.MiniCLIP):
        return clip
    return clip_module.MiniCLIP.load(clip, text_only=not config.clip_weight)
