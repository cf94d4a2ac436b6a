"""``GAN(keras.Model)``: one training loop for every chapter — Chapters 2-7.

Written the keras-io way (``conditional_gan.py``, ``gan_ada.py``): subclass
``keras.Model``, override ``compile``, ``train_step`` and ``metrics``, and ``fit()``
brings the progress bar, callbacks and History for free::

    gan = GAN(generator, discriminator, latent_dim=64, conditional="label", ema=0.999)
    gan.compile(g_optimizer, d_optimizer, loss="hinge")
    history = gan.fit(dataset, epochs=10)        # batches: images or (images, labels)
    images = gan.generate(16, cond=labels, seed=0)   # (16, H, W, C) in [-1, 1]

**Call conventions** (``draw`` and ``judge``). Unconditional: ``generator(z)``,
``discriminator(x)``. Conditional (``"label"`` or ``"text"``): ``generator([z, cond])``,
``discriminator([x, cond])``, ``cond`` whatever the batch carries — int labels (B,),
token ids (B, T), text embeddings (B, E). z is (B, latent_dim) standard normal; D
returns (B, 1) logits. **One step**: ``n_critic`` D updates, then one G update, then EMA.

**Determinism.** All noise (z, WGAN-GP's interpolation weights) is drawn from
``self.seed_generator``, a ``keras.random.SeedGenerator`` whose state is a variable of
the model — so a checkpoint holds the RNG position, and a resumed run continues the
same random stream (see ``dalle_edu.callbacks.Checkpoint`` and ``fit(resume_from=)``).
"""

from __future__ import annotations

import numpy as np
import keras
from keras import ops
import tensorflow as tf

from . import checks, device, losses, replicas, trainer
from .models.dcgan import split_at_features

__all__ = ["GAN", "CONDITIONAL_MODES"]

CONDITIONAL_MODES = (None, "label", "text")
_BCE_LOSSES = ("minimax", "non-saturating")


class GAN(keras.Model):
    """A (conditional) GAN trained with ``fit``. See the module docstring for conventions.

    Args:
        generator, discriminator: built Keras models (e.g. from ``dalle_edu.models``).
        latent_dim: width of the noise vector z.
        conditional: ``None``, ``"label"`` or ``"text"`` — whether batches carry a condition.
        ema: decay of the generator's exponential moving average (e.g. 0.999), or None.
        n_critic: discriminator updates per generator update (5 is usual for WGAN-GP).
        matching_aware: also show D (real image, wrong condition) as fake (Reed et al. 2016).
        gp_weight: lambda of the gradient penalty (used by ``loss="wgan-gp"`` only).
        seed: seed of the model's noise stream (None: from ``keras.utils.set_random_seed``).
    """

    def __init__(self, generator, discriminator, latent_dim, conditional=None, ema=None,
                 n_critic=1, matching_aware=False, gp_weight=10.0, seed=None,
                 **kwargs):
        super().__init__(**kwargs)
        if conditional not in CONDITIONAL_MODES:
            raise ValueError(f"conditional must be one of {CONDITIONAL_MODES}, got {conditional!r}")
        if matching_aware and conditional is None:
            raise ValueError("matching_aware=True needs a conditional GAN (conditional='text' or 'label')")
        if ema is not None and not 0.0 <= float(ema) < 1.0:
            raise ValueError(f"ema is a decay in [0, 1), e.g. 0.999; got {ema}")
        if int(n_critic) < 1:
            raise ValueError(f"n_critic must be >= 1, got {n_critic}")
        for what, net in (("generator", generator), ("discriminator", discriminator)):
            if not getattr(net, "built", False):
                raise ValueError(f"the {what} must be built (call it once, or use a functional model)")
        self.generator, self.discriminator = generator, discriminator
        self.latent_dim, self.conditional = int(latent_dim), conditional
        self.ema_decay = None if ema is None else float(ema)
        self.n_critic, self.matching_aware = int(n_critic), bool(matching_aware)
        self.gp_weight = float(gp_weight)

        # the image shape G makes and D reads; both must agree with each other and the data
        self.image_shape = checks.first_io_shape(generator, "outputs")
        d_in = checks.first_io_shape(discriminator, "inputs")
        if self.image_shape and d_in and checks.shapes_differ(self.image_shape, d_in):
            raise ValueError(f"the generator makes images of shape {self.image_shape} but the "
                             f"discriminator expects {d_in}")
        self.image_shape = self.image_shape or d_in

        # model state, so checkpoints carry it: the RNG position and the step counter
        self.seed_generator = keras.random.SeedGenerator(seed, name="gan_noise")
        self.step = keras.Variable(0, dtype="int64", trainable=False, name="step")

        self.ema_generator = None
        if self.ema_decay is not None:
            try:
                self.ema_generator = keras.models.clone_model(generator)
            except Exception as err:  # subclassed models cannot be cloned generically
                raise ValueError(f"ema needs a clonable (functional/Sequential) generator: {err}") from err
            self.ema_generator.set_weights(generator.get_weights())
            self.ema_generator.trainable = False

        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.d_real_tracker = keras.metrics.Mean(name="d_real")
        self.d_fake_tracker = keras.metrics.Mean(name="d_fake")
        self.built = True  # nothing left to build: spare fit() a symbolic trace

    # --- compile / metrics --------------------------------------------------------------

    def compile(self, g_optimizer=None, d_optimizer=None, loss="non-saturating", **kwargs):
        """Set the two optimizers and the loss (a name from ``dalle_edu.losses.NAMES``).

        Defaults are DCGAN's Adam(2e-4, beta_1=0.5). Other keyword arguments
        (``steps_per_execution``, ``jit_compile``) go to ``keras.Model.compile``; XLA is off
        unless asked for, and honoured only with op determinism off (``device``). With a
        ``mixed_float16`` generator both optimizers get dynamic loss scaling.
        """
        kwargs["jit_compile"] = device.resolve_jit_compile(kwargs.get("jit_compile", False))
        super().compile(**kwargs)
        pair = losses.get(loss)  # validates the name
        self.loss_name = next(n for n in losses.NAMES if losses.get(n) is pair)
        self.g_optimizer = g_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5)
        self.d_optimizer = d_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5)
        if self.g_optimizer is self.d_optimizer:
            raise ValueError("G and D need two separate optimizer objects (each keeps its own state)")
        if self.generator.dtype_policy.name == "mixed_float16":  # float16 gradients underflow
            self.g_optimizer, self.d_optimizer = (
                o if isinstance(o, keras.optimizers.LossScaleOptimizer)
                else keras.optimizers.LossScaleOptimizer(o) for o in (self.g_optimizer, self.d_optimizer))
        if pair.gradient_penalty:  # it needs dD/dx: say now if D's score has none
            checks.check_critic_differentiable(self)
        # build the slots now, so a checkpoint can be restored before the first step
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.d_variables)

    @property
    def d_variables(self):
        """What D's optimizer updates: D's trainable weights (a subclass may add its own,
        e.g. a text tower fine-tuned with D's loss)."""
        return self.discriminator.trainable_variables

    @property
    def loss_pair(self):
        """The ``losses.LossPair`` in use (looked up by name: Keras would wrap a stored tuple)."""
        return losses.get(self.loss_name)

    def discriminator_loss(self, real_logits, fake_logits, wrong_logits=None):
        """D's loss; with ``wrong_logits`` (real image, mismatched condition) it is GAN-CLS.

        Reed et al. (2016) for BCE: ``-log D(x, y) - 1/2 [log(1 - D(x, y')) + log(1 - D(G(z), y))]``.
        We write it for any loss as the mean of two ordinary D losses,
        ``1/2 [L_D(real, fake) + L_D(real, wrong)]``, which for BCE is exactly Reed's
        weighting: the real term keeps weight 1, the two "fake" kinds share the other 1.
        The wrong condition is the batch's conditions rolled by one; with class labels it
        equals the right one by chance about 1/num_classes of the time (captions rarely do).
        """
        d_loss = self.loss_pair.d_loss(real_logits, fake_logits)
        if wrong_logits is None:
            return d_loss
        return 0.5 * (d_loss + self.loss_pair.d_loss(real_logits, wrong_logits))

    def _score(self, logits):
        """What the d_real/d_fake metrics show: D(x) as a probability for BCE, else the raw score."""
        logits = ops.cast(logits, "float32")
        return ops.mean(ops.sigmoid(logits) if self.loss_name in _BCE_LOSSES else logits)

    @property
    def metrics(self):
        # listed here so Keras resets them every epoch and fit() reports them
        return [self.d_loss_tracker, self.g_loss_tracker, self.d_real_tracker, self.d_fake_tracker]

    # --- hooks: the call convention in one place, and what a subclass may change -------
    # (never copy train_step to add a term: extend it through these)

    def draw(self, z, cond, training=True, net=None):
        """G's images (B, H, W, C), float32 (under a mixed policy G computes in bfloat16/float16)."""
        net = net or self.generator
        out = net([z, cond], training=training) if self.conditional else net(z, training=training)
        return ops.cast(out, "float32")

    def judge(self, x, cond, training=True):
        """D's ``(logits (B, 1), extras)`` in float32; ``extras`` is a second head's output
        (an auxiliary classifier, an image embedding: ``split_d_output``) or None."""
        if self.conditional:
            out = self.discriminator([x, self.d_condition(cond)], training=training)
        else:
            out = self.discriminator(x, training=training)
        return self._as_float32(out)

    def judge_real(self, real, cond):
        """D on the real pair and, matching-aware, on each real image with its neighbour's
        condition: ``(real_logits (B, 1), real_extras, wrong_logits (B, 1) or None)``.

        The same numbers as ``judge(real, cond)`` and ``judge(real, roll_rows(cond))``. A
        projection D reads the condition only in its head (``models.split_at_features``),
        so the real images' features are computed once and only the head sees both
        conditions: a sixth fewer FLOPs in a cpu-preset step, and 135 against 163 ms
        measured (book: benchmarks, "The step, plainly").
        """
        if not self.matching_aware:
            return (*self.judge(real, cond), None)
        cond = ops.convert_to_tensor(cond)
        wrong = replicas.roll_rows(cond)  # (B, ...): row i gets row i - 1's condition
        split = split_at_features(self.discriminator)  # (features, head) of D, or None
        if split is None:  # the condition reaches D's features: two whole calls
            return (*self.judge(real, cond), self.judge(real, wrong)[0])
        features, head = split
        phi = features(real, training=True)  # (B, F): D's body, once
        real_logits, real_extras = self._as_float32(head([phi, self.d_condition(cond)], training=True))
        wrong_logits, _ = self._as_float32(head([phi, self.d_condition(wrong)], training=True))
        return real_logits, real_extras, wrong_logits

    def _as_float32(self, out):
        # losses in float32: under a mixed policy D computes (and answers) in bfloat16/float16
        return self.split_d_output(keras.tree.map_structure(lambda t: ops.cast(t, "float32"), out))

    def d_condition(self, cond):
        """The condition as D reads it; a subclass may transform it (token ids -> embeddings)."""
        return cond

    def split_d_output(self, out):
        """D's output -> ``(logits (B, 1), extras)``: a D with an extra head returns
        ``[logits, extras]``, else ``(out, None)``."""
        return (out[0], out[1]) if isinstance(out, (list, tuple)) else (out, None)

    def unpack_batch(self, data):
        """One batch -> ``(real, cond, extra)``; ``extra`` is anything else a subclass's terms read."""
        real, cond, _ = keras.utils.unpack_x_y_sample_weight(data)
        if self.conditional and cond is None:
            raise ValueError(f"a conditional={self.conditional!r} GAN needs (images, conditions) "
                             "batches, but the data has images only")
        checks.check_image_shape(self, checks.static_shape(real)[1:], "the batch")
        return ops.cast(real, "float32"), (cond if self.conditional else None), None

    def extra_d_loss(self, real_extras, cond, extra):
        """A term added to D's loss, from D's extra outputs on the real batch (default: 0)."""
        return 0.0

    def extra_g_loss(self, z, fake, fake_extras, cond, extra):
        """A term added to G's loss, given the noise, the fakes and D's extras on them (default: 0)."""
        return 0.0

    def noise(self, batch):
        """z (B, latent_dim) from the model's seeded stream (each replica gets its own rows)."""
        return replicas.replica_rows(
            lambda n: keras.random.normal((n, self.latent_dim), seed=self.seed_generator), batch)

    # --- training ---------------------------------------------------------------------

    def train_step(self, data):
        real, cond, extra = self.unpack_batch(data)  # (B, H, W, C) in [-1, 1]; cond (B, ...) or None
        batch = ops.shape(real)[0]

        for _ in range(self.n_critic):  # D first: n_critic updates, fresh fakes each time
            fake = self.draw(self.noise(batch), cond)  # (B, H, W, C)
            with tf.GradientTape() as tape:
                # D on the real pair and (matching-aware, GAN-CLS) each real image with its
                # neighbour's condition, which must count as fake too; then on the fake pair
                real_logits, real_extras, wrong_logits = self.judge_real(real, cond)  # (B, 1)
                fake_logits, _ = self.judge(fake, cond)  # (B, 1)
                d_loss = self.discriminator_loss(real_logits, fake_logits, wrong_logits)
                if self.loss_pair.gradient_penalty:  # WGAN-GP: ||grad D|| = 1 between real and fake
                    critic = lambda x: self.judge(x, cond)[0]  # noqa: E731
                    d_loss += self.gp_weight * replicas.gradient_penalty(
                        critic, real, fake, self.seed_generator)
                d_loss += self.extra_d_loss(real_extras, cond, extra)
            self.apply_gradients(self.d_optimizer, d_loss, self.d_variables, tape)
            self.d_loss_tracker.update_state(d_loss)

        with tf.GradientTape() as tape:  # then G: one update, through D's judgement
            z = self.noise(batch)  # (B, latent_dim)
            fake = self.draw(z, cond)
            fake_logits_g, fake_extras = self.judge(fake, cond)
            g_loss = self.loss_pair.g_loss(fake_logits_g)
            g_loss += self.extra_g_loss(z, fake, fake_extras, cond, extra)
        self.apply_gradients(self.g_optimizer, g_loss, self.generator.trainable_variables, tape)
        replicas.sync_statistics(self.generator, self.discriminator)  # BatchNorm's, per replica
        self.update_ema()
        self.step.assign_add(1)

        self.g_loss_tracker.update_state(g_loss)
        self.d_real_tracker.update_state(self._score(real_logits))  # from the last D update
        self.d_fake_tracker.update_state(self._score(fake_logits))
        return {m.name: m.result() for m in self.metrics}

    def apply_gradients(self, optimizer, loss, variables, tape):
        """Gradients of ``loss`` for this replica, applied (summed over replicas by the optimizer).

        Under ``tf.distribute`` each replica's loss is divided by R
        (``replicas.per_replica_loss``); with ``mixed_float16`` it is multiplied by the loss
        scale. Both on the tape, re-entered: a loss scaled after the tape closed has no
        gradient at all.
        """
        with tape:
            scaled = optimizer.scale_loss(replicas.per_replica_loss(loss))
        optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))

    def update_ema(self):
        """ema <- decay * ema + (1 - decay) * w for weights; BatchNorm statistics are copied."""
        if self.ema_generator is None:
            return
        d = self.ema_decay
        for w, e in zip(self.generator.weights, self.ema_generator.weights):
            e.assign(d * e + (1.0 - d) * w if w.trainable else w)

    # --- data checks, fit with resume ---------------------------------------------------

    def check_data(self, x, y=None, batch_size=None):
        """A clear ``ValueError`` if the data's image shape, condition or batch does not fit
        (``checks.check_data``: from shapes only, nothing is read)."""
        checks.check_data(self, x, y, batch_size)

    def fit(self, x=None, y=None, *, epochs=1, steps_per_epoch=None, callbacks=None,
            initial_epoch=0, resume_from=None, **kwargs):
        """``keras.Model.fit`` plus a data check and exact resumption (``trainer.fit``):
        ``resume_from=directory`` restores the latest checkpoint there (weights, both
        optimizers, EMA, step k, RNG) and skips the first k batches of the same, freshly
        built, deterministically shuffled dataset. Under a ``tf.distribute`` strategy Keras
        first reads a batch from an iterator of its own: give it a dataset whose every
        iterator yields one stream (``pipeline.shuffled_batches``)."""
        return trainer.fit(self, x, y, epochs=epochs, steps_per_epoch=steps_per_epoch,
                           callbacks=callbacks, initial_epoch=initial_epoch,
                           resume_from=resume_from, **kwargs)

    # --- sampling -----------------------------------------------------------------------

    def generate(self, n_or_noise, cond=None, seed=None, use_ema=True, batch_size=256):
        """Images (N, H, W, C) as a numpy array in [-1, 1] (or whatever G outputs).

        ``n_or_noise``: a count (noise drawn from numpy with ``seed``, so sampling never
        moves the training RNG) or a (N, latent_dim) noise array. ``cond``: N conditions
        for a conditional GAN. ``use_ema``: sample from the EMA generator when there is one.
        """
        if isinstance(n_or_noise, (int, np.integer)):
            z = np.random.default_rng(seed).standard_normal((int(n_or_noise), self.latent_dim))
        else:
            z = np.asarray(n_or_noise)
        z = z.astype("float32")
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"noise must have shape (N, {self.latent_dim}), got {z.shape}")
        if self.conditional:
            if cond is None:
                raise ValueError(f"a conditional={self.conditional!r} GAN needs cond= to generate")
            cond = np.asarray(cond)
            if len(cond) != len(z):
                raise ValueError(f"got {len(z)} noise vectors but {len(cond)} conditions")
        net = self.ema_generator if (use_ema and self.ema_generator is not None) else self.generator
        out = [
            ops.convert_to_numpy(self.draw(z[i:i + batch_size],  # float32 also from a bf16 G
                                        None if cond is None else cond[i:i + batch_size],
                                        training=False, net=net))
            for i in range(0, len(z), batch_size)
        ]
        return np.concatenate(out, axis=0)
