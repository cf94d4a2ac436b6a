"""``GAN(keras.Model)``: one training loop for every chapter — Chapters 2-6.

Written the keras-io way (``conditional_gan.py``, ``gan_ada.py``): subclass
``keras.Model``, override ``compile``, ``train_step`` and ``metrics``, and ``fit()``
brings the progress bar, callbacks and History for free::

    gan = GAN(generator, discriminator, latent_dim=64, conditional="label", ema=0.999)
    gan.compile(g_optimizer, d_optimizer, loss="hinge")
    history = gan.fit(dataset, epochs=10)        # batches: images or (images, labels)
    images = gan.generate(16, cond=labels, seed=0)   # (16, H, W, C) in [-1, 1]

**Call conventions.** Unconditional: ``generator(z)``, ``discriminator(x)``.
Conditional (``conditional="label"`` or ``"text"``): ``generator([z, cond])``,
``discriminator([x, cond])``, where ``cond`` is whatever the batch carries — int labels
(B,) / (B, 1), token ids (B, T), or text embeddings (B, E) — passed unchanged to both.
z is (B, latent_dim) standard normal; the discriminator returns (B, 1) logits.

**One training step** (one batch): ``n_critic`` discriminator updates, each with fresh
noise and the same real batch, then one generator update, then the EMA update.

**Determinism.** All noise (z, WGAN-GP's interpolation weights) is drawn from
``self.seed_generator``, a ``keras.random.SeedGenerator`` whose state is a variable of
the model — so a checkpoint holds the RNG position, and a resumed run continues the
same random stream (see ``dalle_edu.callbacks.Checkpoint`` and ``fit(resume_from=)``).
"""

from __future__ import annotations

import functools

import numpy as np
import keras
from keras import ops
import tensorflow as tf

from . import device, distribute, losses
from .distribute import first_io_shape, shapes_differ, static_shape
from .models.dcgan import split_at_features

__all__ = ["GAN", "CONDITIONAL_MODES"]

CONDITIONAL_MODES = (None, "label", "text")
_BCE_LOSSES = ("minimax", "non-saturating")


def _spans(sizes) -> list[tuple]:
    """``(start, stop)`` of consecutive row blocks of the given sizes: [2, 3] -> [(0, 2), (2, 5)]."""
    out, start = [], 0
    for n in sizes:
        out.append((start, start + n))
        start = start + n
    return out


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
        r1_gamma: gamma of the R1 penalty on real images, ``gamma / 2 * E||grad_x D||^2``
            added to D's loss with any loss (Mescheder et al. 2018); 0 = off.
        seed: seed of the model's noise stream (None: from ``keras.utils.set_random_seed``).
    """

    def __init__(self, generator, discriminator, latent_dim, conditional=None, ema=None,
                 n_critic=1, matching_aware=False, gp_weight=10.0, r1_gamma=0.0, seed=None,
                 **kwargs):
        super().__init__(**kwargs)
        if conditional not in CONDITIONAL_MODES:
            raise ValueError(f"conditional must be one of {CONDITIONAL_MODES}, got {conditional!r}")
        if matching_aware and conditional is None:
            raise ValueError("matching_aware=True needs a conditional GAN (conditional='text' or 'label')")
        if ema is not None and not 0.0 <= float(ema) < 1.0:
            raise ValueError(f"ema is a decay in [0, 1), e.g. 0.999; got {ema}")
        if not float(r1_gamma) >= 0.0:
            raise ValueError(f"r1_gamma is a penalty weight >= 0 (0 = off); got {r1_gamma}")
        if int(n_critic) < 1:
            raise ValueError(f"n_critic must be >= 1, got {n_critic}")
        for what, net in (("generator", generator), ("discriminator", discriminator)):
            if not getattr(net, "built", False):
                raise ValueError(f"the {what} must be built (call it once, or use a functional model)")
        self.generator, self.discriminator = generator, discriminator
        self.latent_dim, self.conditional = int(latent_dim), conditional
        self.ema_decay = None if ema is None else float(ema)
        self.n_critic, self.matching_aware = int(n_critic), bool(matching_aware)
        self.gp_weight, self.r1_gamma = float(gp_weight), float(r1_gamma)

        # the image shape G makes and D reads; both must agree with each other and the data
        self.image_shape = first_io_shape(generator, "outputs")
        d_in = first_io_shape(discriminator, "inputs")
        if self.image_shape and d_in and shapes_differ(self.image_shape, d_in):
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
        (``steps_per_execution``, ``jit_compile``) go to ``keras.Model.compile``. XLA is
        off unless asked for (``jit_compile=True``, honoured only with op determinism off):
        Keras's "auto" would turn it on whenever op determinism is off, and it is
        measured before it is made a default.
        With a ``mixed_float16`` generator both optimizers get dynamic loss scaling.
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
            distribute.check_critic_differentiable(self)
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

    @property
    def metrics(self):
        # listed here so Keras resets them every epoch and fit() reports them
        return [self.d_loss_tracker, self.g_loss_tracker, self.d_real_tracker, self.d_fake_tracker]

    # --- the two networks, with the call convention in one place ------------------------

    def _G(self, z, cond, training, net=None):
        net = net or self.generator
        return net([z, cond], training=training) if self.conditional else net(z, training=training)

    def _D(self, x, cond, training=True):
        if self.conditional:
            return self.discriminator([x, self._d_condition(cond)], training=training)
        return self.discriminator(x, training=training)

    def _d_condition(self, cond):
        """The condition as D reads it; a subclass may transform it here (a text tower
        that turns token ids into embeddings), and both D's whole call and its head alone
        (``_D_stacked``) then read the transformed one."""
        return cond

    def _noise(self, batch):
        # (B, latent); under R replicas each gets its own rows of the global batch's noise
        return distribute.replica_rows(
            lambda n: keras.random.normal((n, self.latent_dim), seed=self.seed_generator), batch)

    # --- losses ---------------------------------------------------------------------------

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

    # --- hooks: what a subclass may change (never copy train_step to add a term) -------

    def unpack_batch(self, data):
        """One batch -> ``(real, cond, extra)``; ``extra`` is anything else a subclass's terms read."""
        real, cond, _ = keras.utils.unpack_x_y_sample_weight(data)
        if self.conditional and cond is None:
            raise ValueError(f"a conditional={self.conditional!r} GAN needs (images, conditions) "
                             "batches, but the data has images only")
        self._check_image_shape(static_shape(real)[1:], "the batch")
        return ops.cast(real, "float32"), (cond if self.conditional else None), None

    def split_d_output(self, out):
        """D's output -> ``(logits (B, 1), extras)``: a D with an extra head returns
        ``[logits, extras]`` (an auxiliary classifier, an image embedding), else ``(out, None)``."""
        return (out[0], out[1]) if isinstance(out, (list, tuple)) else (out, None)

    def extra_d_loss(self, real_extras, cond, extra):
        """A term added to D's loss, from D's extra outputs on the real batch (default: none)."""
        return None

    def extra_g_loss(self, z, fake, fake_extras, cond, extra):
        """A term added to G's loss, given the noise, the fakes and D's extras on them (default: none)."""
        return None

    # --- training ---------------------------------------------------------------------

    def _D_logits(self, x, cond, training=True):
        return self._as_logits(self._D(x, cond, training=training))

    def _as_logits(self, out):
        # losses in float32: under a mixed policy D computes (and answers) in bfloat16/float16
        return self.split_d_output(keras.tree.map_structure(lambda t: ops.cast(t, "float32"), out))

    @functools.cached_property
    def _d_split(self):
        """``(features, head)`` of a projection D (``models.split_at_features``), else None.

        Kept out of Keras's tracking (a cached property writes the instance's ``__dict__``):
        the two models hold D's own layers, and checkpoints list D's weights once.
        """
        if not self.matching_aware or type(self)._D is not GAN._D:  # a subclass's own D call
            return None                                              # stays whole
        return split_at_features(self.discriminator)

    def _D_stacked(self, pairs, training=True):
        """``[_D_logits(x, cond) for x, cond in pairs]`` in one call of D on the stacked batches.

        The same numbers as separate calls (each sample's score depends on that sample
        alone: D has no BatchNorm) with one larger matrix product per layer instead of
        several small ones. The profile (``benchmarks/t2i_profile.py``) estimated the saving
        at 5-10 % of a CPU step: too little to see on a noisy machine (book: benchmarks).

        When the same image batch comes twice (the matching-aware pass judges the real
        images again, with their neighbours' captions) and D reads the condition only in
        its head (projection), that batch's features are computed once and only the head
        sees every pair: the same numbers again, for a third less of D's work.
        """
        sizes = [ops.shape(x)[0] for x, _ in pairs]
        cond = None if pairs[0][1] is None else ops.concatenate([c for _, c in pairs], axis=0)
        images, which = [], []  # distinct image batches (the same tensor counts once)
        for x, _ in pairs:
            hit = [i for i, seen in enumerate(images) if seen is x]
            which.append(hit[0] if hit else len(images))
            images += [] if hit else [x]
        if self._d_split is not None and len(images) < len(pairs):
            features, head = self._d_split
            phi = features(ops.concatenate(images, axis=0), training=training)  # (N, F)
            spans = _spans([ops.shape(x)[0] for x in images])
            phi = ops.concatenate([phi[slice(*spans[i])] for i in which], axis=0)  # a row per pair
            logits, extras = self._as_logits(head([phi, self._d_condition(cond)], training=training))
        else:
            x = ops.concatenate([x for x, _ in pairs], axis=0)
            logits, extras = self._D_logits(x, cond, training=training)
        cut = lambda t, rows: None if t is None else t[rows]  # noqa: E731
        return [(cut(logits, rows), keras.tree.map_structure(lambda t: cut(t, rows), extras))
                for rows in (slice(*span) for span in _spans(sizes))]

    def _apply(self, optimizer, loss, variables, tape):
        """Gradients of ``loss`` for this replica, applied (summed over replicas by the optimizer).

        Under ``tf.distribute`` each replica's loss is divided by R (``distribute.per_replica_loss``);
        with ``mixed_float16`` it is multiplied by the loss scale. Both on the tape, re-entered:
        a loss scaled after the tape closed has no gradient at all.
        """
        with tape:
            scaled = optimizer.scale_loss(distribute.per_replica_loss(loss))
        optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))

    def train_step(self, data):
        real, cond, extra = self.unpack_batch(data)  # (B, H, W, C) in [-1, 1]; cond (B, ...) or None
        batch = ops.shape(real)[0]
        D_vars = self.d_variables
        G_vars = self.generator.trainable_variables

        for _ in range(self.n_critic):  # unrolled in the traced graph; fresh fakes each time
            fake = ops.cast(self._G(self._noise(batch), cond, training=True), "float32")
            with tf.GradientTape() as tape:
                # D judges real, fake and (matching-aware) each real image with its
                # neighbour's condition, in one call on the three stacked (D has no BatchNorm)
                pairs = [(real, cond), (fake, cond)]
                if self.matching_aware:
                    pairs.append((real, distribute.roll_rows(cond)))
                (real_logits, real_extras), (fake_logits, _), *wrong = self._D_stacked(pairs)
                wrong_logits = wrong[0][0] if wrong else None  # (B, 1) each
                d_loss = self.discriminator_loss(real_logits, fake_logits, wrong_logits)
                term = self.extra_d_loss(real_extras, cond, extra)
                if term is not None:
                    d_loss += term
                critic = (lambda x: self._D_logits(x, cond)[0])  # D's score, for penalties
                if self.loss_pair.gradient_penalty:
                    d_loss += self.gp_weight * distribute.gradient_penalty(
                        critic, real, fake, self.seed_generator)
                if self.r1_gamma:  # one more D call, on the real batch alone
                    d_loss += 0.5 * self.r1_gamma * losses.r1_penalty(critic, real)
            self._apply(self.d_optimizer, d_loss, D_vars, tape)
            self.d_loss_tracker.update_state(d_loss)

        with tf.GradientTape() as tape:
            z = self._noise(batch)
            fake = ops.cast(self._G(z, cond, training=True), "float32")
            fake_logits_g, fake_extras = self._D_logits(fake, cond)
            g_loss = self.loss_pair.g_loss(fake_logits_g)
            term = self.extra_g_loss(z, fake, fake_extras, cond, extra)
            if term is not None:
                g_loss += term
        self._apply(self.g_optimizer, g_loss, G_vars, tape)
        distribute.sync_statistics(self.generator, self.discriminator)  # BatchNorm's, per replica
        if self.ema_generator is not None:
            self._update_ema()
        self.step.assign_add(1)

        self.g_loss_tracker.update_state(g_loss)
        self.d_real_tracker.update_state(self._score(real_logits))  # from the last D update
        self.d_fake_tracker.update_state(self._score(fake_logits))
        return {m.name: m.result() for m in self.metrics}

    def _update_ema(self):
        """ema <- decay * ema + (1 - decay) * w for weights; BatchNorm statistics are copied."""
        d = self.ema_decay
        for w, e in zip(self.generator.weights, self.ema_generator.weights):
            e.assign(d * e + (1.0 - d) * w if w.trainable else w)

    # --- data checks, fit with resume ---------------------------------------------------

    def _check_image_shape(self, data_shape, where):
        distribute.check_image_shape(self, data_shape, where)

    def check_data(self, x, y=None, batch_size=None):
        """Raise a clear ValueError if the data's image shape, condition or batch does not fit the GAN.

        ``x`` is a ``tf.data.Dataset`` (checked from its ``element_spec``, nothing is read),
        an array of images, or anything else (then nothing is checked here). Under a
        strategy of R replicas every global batch must split into R equal parts.
        """
        distribute.check_data(self, x, y, batch_size)

    def fit(self, x=None, y=None, *, epochs=1, steps_per_epoch=None, callbacks=None,
            initial_epoch=0, resume_from=None, **kwargs):
        """``keras.Model.fit`` plus a data check and exact resumption.

        A finite ``tf.data.Dataset`` is repeated and one epoch is one pass
        (``steps_per_epoch`` = its cardinality), so the batch sequence is one stream.

        ``resume_from=directory`` restores the latest checkpoint there (weights, both
        optimizers, EMA, step k, RNG) and skips the first k batches of ``x``. Pass the
        same, freshly built, deterministically shuffled dataset (``shuffle(..., seed=s)``)
        and the same ``epochs`` as the original run: training stops at the original
        last step, bit-identical to an uninterrupted run (CPU, op determinism on,
        ``steps_per_execution=1``: callbacks, and so the stop, run once per execution).

        If op determinism fails at the first step (a GPU op with no deterministic kernel),
        fit warns and trains without it (``distribute.fit_degrading_determinism``).
        """
        self.check_data(x, y, kwargs.get("batch_size"))
        if isinstance(x, tf.data.Dataset):
            kwargs.setdefault("shuffle", False)  # a dataset shuffles itself (with its seed)
        x, steps_per_epoch, initial_epoch, stop = distribute.one_stream(
            self, x, epochs, steps_per_epoch, initial_epoch, resume_from)
        fit = functools.partial(super().fit, x, y, epochs=epochs, steps_per_epoch=steps_per_epoch,
                                callbacks=[*(callbacks or []), *stop], initial_epoch=initial_epoch,
                                **kwargs)
        return distribute.fit_degrading_determinism(self, fit)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Under a strategy Keras 3.15 reads one batch from a fresh iterator here to build
        # what is unbuilt, then starts over: a dataset that reshuffles every iteration then
        # trains in another order than on one device. A GAN is built in __init__: skip it.
        if not all(layer.built for layer in self._flatten_layers()):
            super()._maybe_symbolic_build(iterator, data_batch)

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
            ops.convert_to_numpy(ops.cast(self._G(z[i:i + batch_size],  # float32 also from a bf16 G
                                                  None if cond is None else cond[i:i + batch_size],
                                                  training=False, net=net), "float32"))
            for i in range(0, len(z), batch_size)
        ]
        return np.concatenate(out, axis=0)
