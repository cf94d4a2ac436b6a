"""Training the token model end to end, resumable — Chapter 10 and ``dalle-edu train --model dalle``.

    model = train_dalle(DalleConfig.for_preset("cpu"), "runs/dalle")          # stage 1, then 2
    model = train_dalle(config, "runs/dalle", resume=True)                    # after an interruption

Stage 1 trains the tokenizer on images alone and saves it to ``out_dir/tokenizer``.
Stage 2 encodes every training image once (``make_sequences``: caption ids, then 64
image ids), then trains the transformer on those sequences with checkpoints in
``out_dir/checkpoints`` (``dalle_edu.checkpoint``'s format: weights and optimizer, its
step counter included). ``resume=True`` reloads the saved tokenizer (or trains it
again, a minute, if stage 1 was interrupted) and continues stage 2 from the newest
checkpoint: same sequences, same batch order, so the weights end bit for bit where an
uninterrupted run ends (CPU, op determinism; a test checks).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import keras
import tensorflow as tf

from dalle_edu import callbacks as cbs
from dalle_edu import device, distribute, text
from dalle_edu.checkpoint import latest_checkpoint
from dalle_edu.data import shapes
from dalle_edu.models.transformer import TokenTransformer
from dalle_edu.t2i.dalle import FILES, Dalle, DalleConfig, check_tokenizer
from dalle_edu.image_tokenizer import VQVAE, train_tokenizer

STEPS_PER_EPOCH = 500  # one Keras "epoch": callbacks (checkpoints, evaluation) run this often


def make_sequences(config: DalleConfig, tokenizer: VQVAE) -> np.ndarray:
    """``config.n_train`` captioned train images -> int32 (N, text_len + T*T): [caption ids | image ids].

    Image code c becomes id ``len(text.VOCAB) + c`` (the joint vocabulary of
    ``models.transformer``). The images are drawn with seed ``config.seed + 1`` (the
    tokenizer's own draw uses ``config.seed``), a quarter of their captions partial.
    """
    images, captions, _ = shapes.sample(config.n_train, "train", seed=config.seed + 1,
                                        size=config.image_size, partial=config.partial)
    codes = tokenizer.encode(images).reshape(len(images), -1) + len(text.VOCAB)
    return np.concatenate([text.encode(captions), codes], axis=1).astype("int32")


def build_transformer(config: DalleConfig, codebook_size: int) -> TokenTransformer:
    """The transformer, compiled with AdamW and a warm-up + cosine learning-rate schedule."""
    model = TokenTransformer(config.transformer_config(codebook_size))
    warmup = min(config.warmup, config.steps // 10)
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0 if warmup else config.lr, config.steps - warmup, alpha=config.min_lr,
        warmup_target=config.lr if warmup else None, warmup_steps=warmup)
    # beta_2 0.98 and weight decay on every weight: the usual small-GPT settings
    model.compile(keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay, beta_2=0.98),
                  jit_compile=False)
    model.optimizer.build(model.trainable_variables)  # its slots exist now: a checkpoint can fill them
    return model


def train_dalle(config: DalleConfig, out_dir, resume: bool = False, verbose: int = 1,
                callbacks=(), checkpoint_every: int = 500, tokenizer=None) -> Dalle:
    """Stage 1 (tokenizer), stage 2 (transformer); save the model to ``out_dir``; return it.

    ``tokenizer``: a trained ``VQVAE`` (or its folder) to use instead of training one.
    ``callbacks`` are Keras callbacks for stage 2; each can reach the model being
    trained as ``self.model.sampler`` (a ``Dalle``), which is how
    ``dalle_edu.evaluation.FidelityLog`` evaluates it during training.
    """
    out_dir = Path(out_dir)
    ckpt_dir, tok_dir = out_dir / "checkpoints", out_dir / FILES[2]
    if resume:
        if not (out_dir / FILES[0]).is_file():
            raise ValueError(f"--resume: nothing to resume in {out_dir} (no {FILES[0]} there)")
        saved = DalleConfig.from_dict(json.loads((out_dir / FILES[0]).read_text()))
        if saved.to_dict() != config.to_dict():
            changed = sorted(k for k, v in config.to_dict().items() if saved.to_dict()[k] != v)
            raise ValueError(f"--resume: the run in {out_dir} was started with other settings "
                             f"({', '.join(changed)}); resume it with the same preset and options")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / FILES[0]).write_text(json.dumps(config.to_dict(), indent=1) + "\n")
    device.set_seed(config.seed)

    if tokenizer is not None:  # stage 1, given
        tokenizer = check_tokenizer(config, tokenizer if isinstance(tokenizer, VQVAE)
                                    else VQVAE.load(tokenizer))
        tokenizer.save(tok_dir)
    elif resume and (tok_dir / "vqvae.weights.h5").is_file():
        tokenizer = VQVAE.load(tok_dir)
    else:  # stage 1: images alone, no captions
        if verbose:
            print(f"stage 1: the image tokenizer ({config.vq_config().steps} steps)", flush=True)
        tokenizer = train_tokenizer(config.vq_config(), out_dir=tok_dir, verbose=verbose)

    if verbose:
        print(f"stage 2: the transformer ({config.steps} steps); checkpoints in {ckpt_dir}",
              flush=True)
    seqs = make_sequences(config, tokenizer)
    device.set_seed(config.seed)  # the same weights whether stage 1 ran now or was loaded
    model = build_transformer(config, tokenizer.config.codebook_size)
    steps_per_epoch = min(STEPS_PER_EPOCH, config.steps)
    if config.steps % steps_per_epoch:
        raise ValueError(f"steps ({config.steps}) must be a multiple of {steps_per_epoch}")
    epochs = config.steps // steps_per_epoch
    ds = (tf.data.Dataset.from_tensor_slices(seqs).shuffle(len(seqs), seed=config.seed)
          .repeat().batch(config.batch_size, drop_remainder=True))
    if resume and latest_checkpoint(ckpt_dir) is None and verbose:
        print(f"--resume: no checkpoint in {ckpt_dir} yet; stage 2 starts from step 0", flush=True)
    resume_from = ckpt_dir if resume and latest_checkpoint(ckpt_dir) is not None else None
    ds, steps_per_epoch, initial_epoch, stop = distribute.one_stream(
        model, ds, epochs, steps_per_epoch, 0, resume_from)
    model.sampler = Dalle(config, tokenizer, model)
    callbacks = [cbs.Checkpoint(ckpt_dir, every_n_steps=checkpoint_every, keep=2),
                 cbs.NaNGuard(monitor=("loss",), checkpoint_dir=ckpt_dir), *stop, *callbacks]
    if int(model.step.numpy()) < config.steps:
        distribute.fit_degrading_determinism(model, lambda: model.fit(
            ds, epochs=epochs, steps_per_epoch=steps_per_epoch, initial_epoch=initial_epoch,
            callbacks=callbacks, verbose=verbose, shuffle=False))
    result = Dalle(config, tokenizer, model)
    result.save(out_dir)
    return result
