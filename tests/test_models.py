"""Builders give the documented shapes; conditioning blocks compute their equations."""

import numpy as np
import pytest
import keras

from dalle_edu.models import (
    ConditionalBatchNorm, FiLM, ProjectionHead, dcgan_discriminator, dcgan_generator,
    mlp_discriminator, mlp_generator, split_at_features,
)

CONDS = {None: {}, "label": dict(num_classes=5), "vector": dict(cond_dim=7)}


def cond_batch(kind, n=2):
    if kind == "label":
        return np.array([1, 4][:n] + [0] * max(0, n - 2), "int32")
    return np.linspace(-1, 1, n * 7, dtype="float32").reshape(n, 7)


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("kind, conditioning", [
    (None, "concat"), ("label", "concat"), ("label", "film"), ("vector", "concat"), ("vector", "film"),
])
def test_dcgan_generator_shapes(size, channels, kind, conditioning):
    G = dcgan_generator(8, size, channels, width=4, conditioning=conditioning, **CONDS[kind])
    z = np.random.default_rng(0).standard_normal((2, 8)).astype("float32")
    out = np.array(G([z, cond_batch(kind)] if kind else z, training=True))
    assert out.shape == (2, size, size, channels)
    assert np.abs(out).max() <= 1.0  # tanh
    # BatchNorm (or its conditional version) in every block but the output
    norms = [l for l in G.layers if type(l).__name__ in ("BatchNormalization", "ConditionalBatchNorm")]
    assert len(norms) == {32: 3, 64: 4}[size]
    if conditioning == "film" and kind:
        assert all(type(l).__name__ == "ConditionalBatchNorm" for l in norms)


@pytest.mark.parametrize("size", [32, 64])
def test_dcgan_generator_final_conv_ends_at_full_resolution(size):
    """final_conv: one more normalised block at full resolution, then a 3x3 conv to pixels."""
    G = dcgan_generator(8, size, 3, width=8, cond_dim=7, conditioning="film", final_conv=True)
    out = np.array(G([np.zeros((2, 8), "float32"), cond_batch("vector")], training=True))
    assert out.shape == (2, size, size, 3) and np.abs(out).max() <= 1.0
    norms = [l for l in G.layers if type(l).__name__ == "ConditionalBatchNorm"]
    assert len(norms) == {32: 4, 64: 5}[size]
    last = G.get_layer("to_image")
    assert type(last).__name__ == "Conv2D" and last.kernel_size == (3, 3)
    assert G.get_layer(f"up_{len(norms) - 1}").output.shape[1:] == (size, size, 4)  # width / 2


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("kind, conditioning", [
    (None, "concat"), ("label", "concat"), ("label", "projection"), ("vector", "concat"),
    ("vector", "projection"),
])
def test_dcgan_discriminator_shapes(size, channels, kind, conditioning):
    D = dcgan_discriminator(size, channels, width=4, conditioning=conditioning, **CONDS[kind])
    x = np.zeros((2, size, size, channels), "float32")
    assert tuple(D([x, cond_batch(kind)] if kind else x).shape) == (2, 1)
    assert not any("Normalization" in type(l).__name__ for l in D.layers)  # no BN in D (WGAN-GP safe)


@pytest.mark.parametrize("spectral_norm", [False, True])
def test_dcgan_discriminator_stem_sees_full_resolution(spectral_norm):
    """stem: a 3x3 conv at full resolution (width / 2 maps) before the first stride."""
    D = dcgan_discriminator(32, 3, width=8, cond_dim=7, conditioning="projection",
                            spectral_norm=spectral_norm, stem=True)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    assert tuple(D([x, cond_batch("vector")]).shape) == (2, 1)
    sn = "sn_" if spectral_norm else ""  # the spectral wrapper's name
    assert D.get_layer(f"{sn}stem").output.shape[1:] == (32, 32, 4)
    assert D.get_layer(f"{sn}down_0").input.shape[-1] == 4  # the stride reads the stem
    plain = dcgan_discriminator(32, 3, width=8, cond_dim=7, conditioning="projection")
    assert "stem" not in [l.name for l in plain.layers]


@pytest.mark.parametrize("kind", ["label", "vector"])
@pytest.mark.parametrize("conditioning", ["concat", "projection"])
def test_discriminator_output_depends_on_the_condition(kind, conditioning):
    D = dcgan_discriminator(32, 1, width=4, conditioning=conditioning, **CONDS[kind])
    x = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 1)).astype("float32")
    y = cond_batch(kind)
    y2 = np.array([2, 3], "int32") if kind == "label" else -y
    assert not np.allclose(np.array(D([x, y])), np.array(D([x, y2])))


def test_labels_of_shape_b_and_b1_are_the_same_input():
    G = dcgan_generator(8, 32, 1, width=4, num_classes=5)
    z = np.zeros((2, 8), "float32")
    y = np.array([1, 3], "int32")
    np.testing.assert_array_equal(np.array(G([z, y])), np.array(G([z, y[:, None]])))


@pytest.mark.parametrize("data_shape, expected", [(1, (1,)), (2, (2,)), ((8, 8, 1), (8, 8, 1))])
@pytest.mark.parametrize("kind", [None, "label", "vector"])
def test_mlp_shapes(data_shape, expected, kind):
    G = mlp_generator(4, data_shape, (8,), **CONDS[kind])
    D = mlp_discriminator(data_shape, (8,), **CONDS[kind])
    z = np.zeros((3, 4), "float32")
    y = cond_batch(kind, 3)
    x = np.array(G([z, y] if kind else z))
    assert x.shape == (3,) + expected
    assert tuple(D([x, y] if kind else x).shape) == (3, 1)


def test_film_is_identity_at_init_and_then_scales_and_shifts():
    film = FiLM()
    x = np.random.default_rng(0).standard_normal((2, 4, 4, 3)).astype("float32")
    e = np.ones((2, 5), "float32")
    np.testing.assert_allclose(np.array(film([x, e])), x)  # gamma = beta = 0 at init
    film.to_gamma.kernel.assign(np.full((5, 3), 0.2, "float32"))  # gamma(e) = 1.0 per channel
    film.to_beta.bias.assign(np.array([1.0, 2.0, 3.0], "float32"))
    np.testing.assert_allclose(np.array(film([x, e])), x * 2.0 + [1.0, 2.0, 3.0], rtol=1e-6)


def test_conditional_batchnorm_normalises_then_modulates():
    cbn = ConditionalBatchNorm()
    x = np.random.default_rng(0).standard_normal((8, 2, 2, 3)).astype("float32") * 5 + 2
    e = np.ones((8, 4), "float32")
    out = np.array(cbn([x, e], training=True))
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(0, 1, 2)), 1, atol=1e-2)


def test_projection_head_equals_psi_plus_inner_product():
    head = ProjectionHead(num_classes=4)
    phi = np.random.default_rng(0).standard_normal((3, 6)).astype("float32")
    y = np.array([[0], [2], [3]], "int32")
    out = np.array(head([phi, y]))
    table = np.array(head.embed.embeddings)  # (4, 6)
    w, b = np.array(head.psi.kernel), np.array(head.psi.bias)
    expected = phi @ w + b + np.sum(table[y[:, 0]] * phi, axis=1, keepdims=True)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["label", "vector"])
@pytest.mark.parametrize("aux", [None, 5])
def test_split_at_features_rebuilds_a_projection_d_from_its_own_layers(kind, aux):
    D = dcgan_discriminator(32, 3, width=4, conditioning="projection", aux_outputs=aux,
                            stem=True, **CONDS[kind])
    features, head = split_at_features(D)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    x, y = (keras.ops.convert_to_tensor(a) for a in (x, cond_batch(kind)))
    whole, parts = D([x, y]), head([features(x), y])
    if aux is None:
        whole, parts = [whole], [parts]
    assert len(parts) == len(whole)
    for a, b in zip(whole, parts):
        np.testing.assert_allclose(np.array(b), np.array(a), rtol=1e-5, atol=1e-6)
    assert features(x).shape == (2, 16 * 4 * 4)   # the caption never reaches the features
    mine = {id(w) for w in D.weights}
    assert {id(w) for w in features.weights + head.weights} == mine   # no new weights


def test_split_at_features_refuses_ds_whose_features_read_the_condition():
    assert split_at_features(dcgan_discriminator(32, 3, width=4, num_classes=5)) is None  # concat
    assert split_at_features(dcgan_discriminator(32, 3, width=4)) is None  # unconditional
    D = dcgan_discriminator(32, 3, width=4, num_classes=5, conditioning="projection")
    assert split_at_features(D, layer="no_such_layer") is None


def test_builders_refuse_bad_arguments():
    with pytest.raises(ValueError, match="power of two"):
        dcgan_generator(8, image_size=48)
    with pytest.raises(ValueError, match="not both"):
        dcgan_discriminator(32, 1, num_classes=3, cond_dim=4)
    with pytest.raises(ValueError, match="conditioning must be one of"):
        dcgan_discriminator(32, 1, num_classes=3, conditioning="film")
    with pytest.raises(ValueError, match="data_shape"):
        mlp_generator(4, data_shape=0)


def test_spectral_norm_brings_the_largest_singular_value_to_one():
    import keras

    from dalle_edu.models import spectral

    keras.utils.set_random_seed(0)
    layer = spectral(keras.layers.Dense(16), power_iterations=1)
    x = np.random.default_rng(0).standard_normal((8, 32)).astype("float32")
    layer(x)  # build
    w0 = keras.ops.convert_to_numpy(layer.layer.kernel) * 5.0  # a kernel with sigma far from 1
    layer.layer.kernel.assign(w0)
    assert np.linalg.svd(w0, compute_uv=False)[0] > 3.0
    for _ in range(30):  # power iteration refines u each training call
        layer(x, training=True)
    sigma = np.linalg.svd(keras.ops.convert_to_numpy(layer.layer.kernel), compute_uv=False)[0]
    assert sigma == pytest.approx(1.0, abs=0.02)


def test_spectral_norm_discriminator_builds_and_keeps_its_shapes():
    from dalle_edu.models import dcgan_discriminator

    D = dcgan_discriminator(32, 3, width=8, cond_dim=23, conditioning="projection", aux_outputs=20,
                            spectral_norm=True)
    logit, aux = D([np.zeros((2, 32, 32, 3), "float32"), np.zeros((2, 23), "float32")], training=True)
    assert tuple(logit.shape) == (2, 1) and tuple(aux.shape) == (2, 20)
    assert sum("sn_" in l.name for l in D.layers) == 4  # three convs and the aux head (+ inside the head)
