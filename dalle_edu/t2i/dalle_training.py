"""Training the token model end to end, resumable — Chapter 12 and ``dalle-edu train --model dalle``.

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

from pathlib import Path

import numpy as np
import keras
import tensorflow as tf

from dalle_edu import device, text, trainer
from dalle_edu.data import shapes
from dalle_edu.models.transformer import TokenTransformer
from dalle_edu.t2i.dalle import FILES, Dalle, DalleConfig, check_tokenizer
from dalle_edu.image_tokenizer import VQVAE, train_tokenizer

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
    schedule = trainer.warmup_cosine(config.lr, config.steps, config.warmup, config.min_lr)
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
    trained as ``self.model.sampler`` (a ``Dalle``), which is how training-time
    evaluation reaches it.
    """
    out_dir = Path(out_dir)
    tok_dir = out_dir / FILES[2]
    trainer.epochs_for(config.steps)  # a bad step count fails now, not after stage 1
    trainer.start_run(config, out_dir, resume, config_file=FILES[0])  # DalleConfig.RESUMABLE: ()
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
        print(f"stage 2: the transformer ({config.steps} steps); checkpoints in "
              f"{out_dir / 'checkpoints'}", flush=True)
    seqs = make_sequences(config, tokenizer)
    device.set_seed(config.seed)  # the same weights whether stage 1 ran now or was loaded
    model = build_transformer(config, tokenizer.config.codebook_size)
    ds = (tf.data.Dataset.from_tensor_slices(seqs).shuffle(len(seqs), seed=config.seed)
          .repeat().batch(config.batch_size, drop_remainder=True))
    model.sampler = Dalle(config, tokenizer, model)
    trainer.train_run(model, ds, config.steps, out_dir, resume, callbacks=callbacks,
                      verbose=verbose, checkpoint_every=checkpoint_every, monitor=("loss",))
    result = Dalle(config, tokenizer, model)
    result.save(out_dir)
    return result
