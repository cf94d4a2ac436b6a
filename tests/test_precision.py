"""Mixed precision (a config option) and XLA (``build_gan``'s ``jit_compile``) are off by
default and fail or warn clearly.

Book: "Several devices, precision and XLA". CPU only: bfloat16 is emulated here (correct,
rarely faster), float16 needs a GPU and is refused, XLA compiles for the CPU.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from dalle_edu import device, t2i

TINY = dict(n_train=64, width=8, batch_size=8, latent_dim=16, steps=2)


def _one_step(config, jit_compile=False):
    """Build the text-to-image GAN for ``config`` and train it 2 steps; -> (gan, history)."""
    encoder = t2i.build_text_encoder(config.embed_dim)  # untrained: any fixed conditions will do
    gan = t2i.build_gan(config, jit_compile=jit_compile)
    assert keras.config.dtype_policy().name == "float32"  # build_gan leaves the global policy alone
    history = gan.fit(t2i.make_dataset(config, encoder), epochs=1, steps_per_epoch=2, verbose=0)
    return gan, history.history


def test_mixed_bfloat16_computes_in_bfloat16_and_keeps_float32_weights_and_losses():
    device.set_seed(0)
    gan, history = _one_step(t2i.T2IConfig(**TINY, precision="mixed_bfloat16"))
    for net in (gan.generator, gan.ema_generator, gan.discriminator):
        with_weights = [layer for layer in net.layers if layer.weights]
        assert with_weights and {layer.compute_dtype for layer in with_weights} == {"bfloat16"}
        assert {v.dtype for v in net.weights} == {"float32"}  # the weights stay float32
    z, cond = np.zeros((2, 16), "float32"), np.zeros((2, t2i.COND_DIM), "float32")
    assert gan.generator([z, cond]).dtype == "bfloat16"
    assert gan.generate(z, cond=cond).dtype == np.float32  # sampling answers in float32
    assert all(np.isfinite(v).all() for v in history.values())
    assert not isinstance(gan.g_optimizer, keras.optimizers.LossScaleOptimizer)  # bf16 needs none


def test_mixed_float16_loss_scaling_happens_on_the_tape():
    """A loss multiplied by the loss scale *after* the tape closed has no gradient at all.

    float16 runs on a CPU (slowly); ``check_precision`` refuses it to users, not to this test.
    """
    from dalle_edu.gan import GAN
    from dalle_edu.models import mlp_discriminator, mlp_generator

    device.set_seed(0)
    with device.precision("float32"):  # restores the global policy whatever happens
        keras.config.set_dtype_policy("mixed_float16")
        G = mlp_generator(4, (8, 8, 1), (16,), output_activation="tanh")
        D = mlp_discriminator((8, 8, 1), (16,))
    gan = GAN(G, D, 4, seed=0)
    gan.compile(loss="wgan-gp")
    assert isinstance(gan.g_optimizer, keras.optimizers.LossScaleOptimizer)
    before = [keras.ops.convert_to_numpy(w) for w in G.trainable_weights]
    history = gan.fit(np.random.default_rng(0).uniform(-1, 1, (16, 8, 8, 1)).astype("float32"),
                      batch_size=8, verbose=0).history
    assert all(np.isfinite(v).all() for v in history.values())
    assert all(not np.array_equal(a, keras.ops.convert_to_numpy(w))  # every weight was updated
               for a, w in zip(before, G.trainable_weights))


def test_jit_compile_trains_with_xla_when_determinism_is_off():
    device.set_seed(0, deterministic=False)  # Keras will not combine XLA with op determinism
    try:
        gan, history = _one_step(t2i.T2IConfig(**TINY), jit_compile=True)
    finally:
        device.set_seed(0)
    assert gan.jit_compile is True
    assert all(np.isfinite(v).all() for v in history.values())


def test_jit_compile_under_op_determinism_warns_instead_of_silently_dropping_xla():
    device.set_seed(0)
    with pytest.warns(RuntimeWarning, match=r"jit_compile=True is ignored.*deterministic=False"):
        gan = t2i.build_gan(t2i.T2IConfig(**TINY), jit_compile=True)
    assert gan.jit_compile is False


def test_precision_and_xla_are_off_by_default():
    config = t2i.T2IConfig(**TINY)
    assert config.precision == "float32" and "jit_compile" not in config.to_dict()
    assert t2i.build_gan(config).jit_compile is False  # not Keras's "auto"
    with pytest.raises(ValueError, match="T2IConfig.precision must be one of 'float32', "
                                         "'mixed_bfloat16', 'mixed_float16', got 'float8'"):
        t2i.T2IConfig(**TINY, precision="float8")


@pytest.mark.skipif(bool(tf.config.list_physical_devices("GPU")), reason="this machine has a GPU")
def test_mixed_float16_without_a_gpu_is_a_one_line_error():
    with pytest.raises(ValueError, match="needs an NVIDIA GPU and none is visible") as err:
        device.check_precision("mixed_float16")
    assert "\n" not in str(err.value) and "'mixed_bfloat16'" in str(err.value)
    with pytest.raises(ValueError, match="mixed_float16"):
        t2i.build_gan(t2i.T2IConfig(**TINY, precision="mixed_float16"))
    assert keras.config.dtype_policy().name == "float32"


def test_an_unknown_precision_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown precision 'float8'; valid: float32, "
                                         "mixed_bfloat16, mixed_float16"):
        device.check_precision("float8")
    assert device.check_precision("float32") == "float32"
    assert device.check_precision("mixed_bfloat16") == "mixed_bfloat16"  # a CPU emulates it


def test_the_precision_context_restores_the_global_policy_even_on_error():
    with pytest.raises(RuntimeError):
        with device.precision("mixed_bfloat16"):
            assert keras.config.dtype_policy().name == "mixed_bfloat16"
            raise RuntimeError("building failed")
    assert keras.config.dtype_policy().name == "float32"
