"""The image tokenizer (VQ-VAE with an EMA codebook): closed forms, files, errors, one short training."""

import json

import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from dalle_edu.checkpoint import WeightsError
from dalle_edu.data import shapes
from dalle_edu.images import to_float
from dalle_edu.models.vqvae import VQConfig, VectorQuantizer, codes_used, perplexity
from dalle_edu.image_tokenizer import VQVAE, train_tokenizer

# tiny on purpose: seconds on 2 cores; it checks that training works, not how well
TINY = dict(codebook_size=32, code_dim=8, width=8, n_train=256, steps=25, batch_size=32,
            lr=3e-3, dead_after=5)


def quantizer(codebook, decay=0.5, epsilon=0.0, dead_after=0, seed=0):
    """A quantizer with a hand-set codebook (K, D) and its EMA state at the start."""
    codebook = np.asarray(codebook, np.float32)
    q = VectorQuantizer(len(codebook), codebook.shape[1], decay=decay, epsilon=epsilon,
                        dead_after=dead_after, seed=seed)
    q.build()
    q.codebook.assign(codebook)
    q.ema_sum.assign(codebook)
    return q


def grid(vectors):
    """(M, D) -> (1, 1, M, D): a batch of one 'image' whose token grid is one row."""
    return np.asarray(vectors, np.float32)[None, None]


@pytest.fixture(scope="module")
def trained():
    return train_tokenizer(VQConfig(**TINY), verbose=0)


# --- the quantizer, by hand -----------------------------------------------------------

def test_the_quantizer_picks_the_nearest_code():
    rng = np.random.default_rng(0)
    codebook, z = rng.normal(size=(16, 4)), rng.normal(size=(2, 3, 3, 4)).astype(np.float32)
    q = quantizer(codebook)
    z_q, ids = q(z)
    d = ((z[..., None, :] - codebook) ** 2).sum(-1)  # (2, 3, 3, 16)
    np.testing.assert_array_equal(ops.convert_to_numpy(ids), d.argmin(-1))
    np.testing.assert_allclose(ops.convert_to_numpy(z_q), codebook[d.argmin(-1)], atol=1e-6)
    assert ops.convert_to_numpy(ids).dtype == np.int32


def test_the_straight_through_gradient_is_the_identity():
    q = quantizer(np.random.default_rng(1).normal(size=(8, 3)))
    z = tf.Variable(np.random.default_rng(2).normal(size=(2, 2, 2, 3)).astype(np.float32))
    w = tf.constant(np.random.default_rng(3).normal(size=(2, 2, 2, 3)).astype(np.float32))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(w * q(z)[0])  # d loss / d z_q = w
    np.testing.assert_allclose(tape.gradient(loss, z).numpy(), w.numpy(), atol=1e-6)


def test_the_ema_update_matches_its_closed_form():
    # codes (0, 0) and (10, 10); the first two vectors pick code 0, the third code 1:
    # counts n = (2, 1), sums s = ((1, 1), (9, 9)); with decay 1/2 and N = 1 at the start
    # N = (1/2 + 1, 1/2 + 1/2) = (3/2, 1); m = ((1/2, 1/2), (19/2, 19/2))
    z = grid([[1, 0], [0, 1], [9, 9]])
    q = quantizer([[0, 0], [10, 10]], decay=0.5, epsilon=0.0)
    _, ids = q(z, training=True)
    np.testing.assert_array_equal(ops.convert_to_numpy(ids), [[[0, 0, 1]]])
    np.testing.assert_allclose(q.ema_count.numpy(), [1.5, 1.0])
    np.testing.assert_allclose(q.ema_sum.numpy(), [[0.5, 0.5], [9.5, 9.5]])
    np.testing.assert_allclose(q.codebook.numpy(), [[1 / 3, 1 / 3], [9.5, 9.5]], rtol=1e-6)
    # Laplace smoothing, eps = 1/2: N~ = (N + eps) / (sum N + K eps) * sum N = (10/7, 15/14)
    q = quantizer([[0, 0], [10, 10]], decay=0.5, epsilon=0.5)
    q(z, training=True)
    np.testing.assert_allclose(q.codebook.numpy(), [[0.35, 0.35], [133 / 15, 133 / 15]], rtol=1e-6)


def test_inference_leaves_the_codebook_alone_and_unused_codes_stay_put():
    q = quantizer([[0, 0], [10, 10], [-50, 50]], decay=0.9, epsilon=1e-5)
    before = q.codebook.numpy().copy()
    q(grid([[1, 0], [9, 9]]))  # training=False
    np.testing.assert_array_equal(q.codebook.numpy(), before)
    for _ in range(5):
        q(grid([[1, 0], [9, 9]]), training=True)
    np.testing.assert_allclose(q.codebook.numpy()[2], [-50, 50], rtol=1e-4)  # never picked
    np.testing.assert_array_equal(q.unused.numpy(), [0, 0, 5])


def test_dead_codes_are_revived_from_the_batch():
    z = grid([[1, 0], [0, 1], [1, 1], [2, 2]])  # all nearest to code 0
    q = quantizer([[0, 0], [50, 50], [-50, 50], [50, -50]], dead_after=2)
    q(z, training=True)
    assert q.revived.numpy() == 0 and (q.unused.numpy() == [0, 1, 1, 1]).all()
    q(z, training=True)  # codes 1-3: unused for 2 steps -> copied from random batch vectors
    assert q.revived.numpy() == 3
    batch = z.reshape(-1, 2)
    for e in q.codebook.numpy()[1:]:
        assert any(np.array_equal(e, v) for v in batch), e
    np.testing.assert_array_equal(q.unused.numpy(), [0, 0, 0, 0])
    np.testing.assert_array_equal(q.ema_count.numpy()[1:], [1, 1, 1])
    np.testing.assert_array_equal(q.ema_sum.numpy()[1:], q.codebook.numpy()[1:])


def test_revival_copies_vectors_the_codebook_represents_badly():
    # three vectors sit exactly on code 0 (error 0): every revival copies the fourth
    z = grid([[0, 0], [0, 0], [0, 0], [3, 4]])
    q = quantizer([[0, 0], [50, 50], [-50, 50], [50, -50]], dead_after=1)
    q(z, training=True)
    np.testing.assert_array_equal(q.codebook.numpy()[1:], [[3, 4]] * 3)


@pytest.mark.parametrize("ids, expected", [
    ([0, 1, 2, 3], 4.0),                  # uniform over k codes -> k
    ([5] * 7, 1.0),                       # one code -> 1
    ([0, 0, 1, 2], 2 ** 1.5),             # p = (1/2, 1/4, 1/4): H = 1.5 bits
    ([[0, 1], [0, 1]], 2.0),              # any shape
])
def test_perplexity_on_known_distributions(ids, expected):
    ids = np.asarray(ids, np.int32)
    assert float(perplexity(ids, 8)) == pytest.approx(expected, rel=1e-5)
    assert float(codes_used(ids, 8)) == len(np.unique(ids))


# --- the model ----------------------------------------------------------------------

def test_encode_and_decode_shapes_and_dtypes(trained):
    images, _, _ = shapes.sample(5, "test")
    ids = trained.encode(images)
    assert ids.shape == (5, 8, 8) and ids.dtype == np.int32
    assert ids.min() >= 0 and ids.max() < TINY["codebook_size"]
    np.testing.assert_array_equal(trained.encode(to_float(images)), ids)  # uint8 = floats
    out = trained.decode(ids)
    assert out.shape == (5, 32, 32, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(trained.reconstruct(images), out)
    assert trained.encode(images[:0]).shape == (0, 8, 8)
    assert trained.decode(ids[:0]).shape == (0, 32, 32, 3)
    usage = trained.codebook_usage(images)
    assert set(usage) == {"perplexity", "used", "unused"}
    assert usage["used"] + usage["unused"] == TINY["codebook_size"]
    assert 1.0 <= usage["perplexity"] <= usage["used"] + 1e-4


def test_training_lowers_the_reconstruction_error(trained):
    images, _, _ = shapes.sample(64, "test")
    x = to_float(images)

    def mse(model):
        return float(((to_float(model.reconstruct(images)) - x) ** 2).mean())

    fresh = VQVAE(VQConfig(**TINY))
    assert mse(trained) < 0.5 * mse(fresh)
    history = trained.history.history
    assert set(history) >= {"loss", "recon_mse", "commitment", "perplexity", "codes_used"}
    assert 1.0 <= history["perplexity"][-1] <= history["codes_used"][-1] <= TINY["codebook_size"]


def test_training_is_deterministic_with_a_seed(trained):
    again = train_tokenizer(trained.config, verbose=0)
    assert trained.quantizer.revived.numpy() > 0  # revival's random draws included
    for u, v in zip(trained.weights, again.weights):
        np.testing.assert_array_equal(u.numpy(), v.numpy(), err_msg=u.path)


def test_save_and_load_round_trip_exactly(trained, tmp_path):
    loaded = VQVAE.load(trained.save(tmp_path / "vq"))
    assert loaded.config == trained.config
    for u, v in zip(trained.weights, loaded.weights):
        np.testing.assert_array_equal(u.numpy(), v.numpy(), err_msg=u.path)
    images, _, _ = shapes.sample(8, "test", seed=3)
    np.testing.assert_array_equal(loaded.encode(images), trained.encode(images))
    np.testing.assert_array_equal(loaded.reconstruct(images), trained.reconstruct(images))


@pytest.mark.parametrize("change", [dict(code_dim=16), dict(width=16), dict(codebook_size=64)])
def test_weights_of_another_architecture_are_a_one_line_error(tmp_path, change):
    folder = VQVAE(VQConfig(**TINY)).save(tmp_path / "vq")
    config = json.loads((folder / "vqvae_config.json").read_text())
    (folder / "vqvae_config.json").write_text(json.dumps({**config, **change}))
    with pytest.raises(WeightsError, match="does not fit this architecture") as err:
        VQVAE.load(folder)
    assert "\n" not in str(err.value)


def test_missing_and_corrupt_folders_are_weights_errors(tmp_path):
    with pytest.raises(WeightsError, match="missing vqvae_config.json, vqvae.weights.h5"):
        VQVAE.load(tmp_path)
    (tmp_path / "vqvae_config.json").write_text(json.dumps({"widht": 8}))
    (tmp_path / "vqvae.weights.h5").write_bytes(b"")
    with pytest.raises(WeightsError, match="corrupt tokenizer config.*unknown VQConfig keys: widht"):
        VQVAE.load(tmp_path)


def test_bad_input_is_a_clear_error(trained):
    with pytest.raises(ValueError, match=r"images must be \(N, 32, 32, 3\).*got \(2, 16, 16, 3\)"):
        trained.encode(np.zeros((2, 16, 16, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8, or floats in \\[-1, 1\\]; got dtype int64"):
        trained.encode(np.zeros((2, 32, 32, 3), np.int64))
    with pytest.raises(ValueError, match=r"floats in \[-1, 1\]; got floats in \[0, 255\]"):
        trained.encode(np.linspace(0, 255, 2 * 32 * 32 * 3).reshape(2, 32, 32, 3))
    with pytest.raises(ValueError, match=r"token ids must be \(N, 8, 8\).*got \(2, 64\).*reshape"):
        trained.decode(np.zeros((2, 64), np.int32))
    with pytest.raises(ValueError, match=r"token ids must be in \[0, 32\), got values in \[32, 32\]"):
        trained.decode(np.full((1, 8, 8), 32))
    with pytest.raises(ValueError, match=r"in \[0, 32\), got values in \[-1, 0\]"):
        trained.decode(-np.eye(8, dtype=np.int64)[None])
    with pytest.raises(ValueError, match="must be integers in \\[0, 32\\), got dtype float32"):
        trained.decode(np.zeros((1, 8, 8), np.float32))


def test_the_config_and_its_rules():
    with pytest.raises(ValueError, match="unknown VQConfig keys: widht; valid: "):
        VQConfig.from_dict({"widht": 8})
    with pytest.raises(ValueError, match="power of two >= 2.*got 32 / 6"):
        VQConfig(tokens_per_side=6)
    with pytest.raises(ValueError, match=r"^VQConfig\.decay must be a number in \[0, 1\), got 1\.0$"):
        VQConfig(decay=1.0)
    with pytest.raises(ValueError, match=r"^VQConfig\.codebook_size must be an integer >= 2, got 1$"):
        VQConfig(codebook_size=1)
    with pytest.raises(ValueError, match=r"^VQConfig\.steps must be an integer > 0, got 'abc'$"):
        VQConfig.from_dict({"steps": "abc"})  # a type checked at construction, not deep in Keras
    assert VQConfig().downsamplings == 2 and VQConfig(image_size=64).downsamplings == 3
    assert VQConfig.from_dict(VQConfig(width=8).to_dict()) == VQConfig(width=8)
