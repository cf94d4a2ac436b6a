"""The token transformer: causal, its attention is MultiHeadAttention's, its loss is the
hand-computed one, the KV cache changes speed and nothing else, and it can learn."""

import numpy as np
import pytest
import keras

from dalle_edu.models import (
    CausalSelfAttention, TokenTransformer, TransformerConfig, sequence_loss,
)

TINY = dict(text_vocab=10, image_vocab=8, text_len=4, image_len=6, width=16, depth=2, heads=2)


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return TokenTransformer(TINY)


def random_ids(n=3, seed=0, c=TransformerConfig(**TINY)):
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.integers(1, c.text_vocab, (n, c.text_len)),
                           c.text_vocab + rng.integers(0, c.image_vocab, (n, c.image_len))],
                          axis=1).astype("int32")


def test_later_tokens_never_change_earlier_logits(model):
    ids = random_ids()
    logits = np.asarray(model(ids))
    assert logits.shape == (3, 10, 18)
    for t in range(ids.shape[1] - 1):
        changed = ids.copy()
        changed[:, t + 1:] = random_ids(seed=t + 1)[:, t + 1:]
        other = np.asarray(model(changed))
        np.testing.assert_allclose(other[:, :t + 1], logits[:, :t + 1], atol=1e-5)
        assert np.abs(other[:, t + 1:] - logits[:, t + 1:]).max() > 1e-4  # it does read them


def test_attention_from_scratch_matches_multi_head_attention():
    width, heads, hd = 16, 4, 4
    x = np.random.default_rng(0).standard_normal((2, 7, width)).astype("float32")
    ours = CausalSelfAttention(width, heads)
    ours.build(x.shape)
    for w in ours.weights:  # non-zero biases too, so a misplaced bias would show
        w.assign(np.random.default_rng(len(w.path)).standard_normal(w.shape).astype("float32") * 0.3)
    mha = keras.layers.MultiHeadAttention(heads, hd)
    mha(x, x, use_causal_mask=True)
    qk, qb, kk, kb, vk, vb, ok, ob = (np.asarray(w) for w in (
        ours.query.kernel, ours.query.bias, ours.key.kernel, ours.key.bias,
        ours.value.kernel, ours.value.bias, ours.out.kernel, ours.out.bias))
    # MHA stores heads as an axis: (E, H, hd) in, (H, hd, E) out; ours are slices of one (E, E)
    mha.set_weights([qk.reshape(width, heads, hd), qb.reshape(heads, hd),
                     kk.reshape(width, heads, hd), kb.reshape(heads, hd),
                     vk.reshape(width, heads, hd), vb.reshape(heads, hd),
                     ok.reshape(heads, hd, width), ob])
    np.testing.assert_allclose(np.asarray(ours(x)), np.asarray(mha(x, x, use_causal_mask=True)),
                               atol=1e-5)


def test_feeding_a_sequence_in_pieces_with_the_cache_gives_the_full_logits(model):
    ids = random_ids()
    full = np.asarray(model(ids))
    pieces, past = [], None
    for a, b in [(0, 5), (5, 6), (6, 9), (9, 10)]:
        logits, past = model.decode(ids[:, a:b], past)
        pieces.append(np.asarray(logits))
    assert np.asarray(past[0][0]).shape == (3, 2, 10, 8)  # (B, H, P, E/H)
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), full, atol=1e-5)


def numpy_loss(logits, ids, text_len, tw, iw):
    logp = logits - logits.max(-1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(-1, keepdims=True))
    text, image = [], []
    for b in range(ids.shape[0]):
        for s in range(1, ids.shape[1]):  # target position s is predicted by row s - 1
            ce = -logp[b, s - 1, ids[b, s]]
            if s >= text_len:
                image.append(ce)
            elif ids[b, s] != 0:
                text.append(ce)
    return tw * np.mean(text) + iw * np.mean(image)


def test_loss_is_the_hand_computed_weighted_cross_entropy():
    rng = np.random.default_rng(0)
    ids = np.array([[3, 5, 0, 0, 12, 11, 17], [4, 2, 7, 0, 10, 15, 16]], "int32")  # text_len 4, padded
    logits = rng.standard_normal((2, 7, 18)).astype("float32")
    for tw, iw in [(1 / 8, 7 / 8), (1.0, 0.0), (0.0, 1.0), (0.3, 2.0)]:
        got = float(sequence_loss(logits, ids, 4, tw, iw))
        assert got == pytest.approx(numpy_loss(logits, ids, 4, tw, iw), rel=1e-5)
    assert float(sequence_loss(logits, ids, 4)) == pytest.approx(numpy_loss(logits, ids, 4, 1 / 8, 7 / 8),
                                                                   rel=1e-5)  # DALL·E's weights


def test_text_weight_zero_ignores_text_targets_and_padding_never_counts():
    rng = np.random.default_rng(1)
    ids = np.array([[3, 5, 0, 0, 12, 11, 17]], "int32")
    logits = rng.standard_normal((1, 7, 18)).astype("float32")
    text_rows = logits.copy()
    text_rows[:, :3] = rng.standard_normal((1, 3, 18))  # rows 0-2 predict text positions 1-3
    assert float(sequence_loss(text_rows, ids, 4, 0.0, 1.0)) == pytest.approx(
        float(sequence_loss(logits, ids, 4, 0.0, 1.0)), abs=1e-6)
    assert float(sequence_loss(text_rows, ids, 4, 1.0, 0.0)) != pytest.approx(
        float(sequence_loss(logits, ids, 4, 1.0, 0.0)), abs=1e-3)
    pad_rows = logits.copy()
    pad_rows[:, 1:3] = rng.standard_normal((1, 2, 18))  # rows 1-2 predict padding
    assert float(sequence_loss(pad_rows, ids, 4, 1.0, 1.0)) == pytest.approx(
        float(sequence_loss(logits, ids, 4, 1.0, 1.0)), abs=1e-6)


@pytest.mark.parametrize("temperature, top_k", [(1.0, None), (0.7, 3), (2.0, 1)])
def test_kv_cache_sampling_equals_full_recompute(model, temperature, top_k):
    text_ids = random_ids(4, seed=5)[:, :4]
    cached = model.sample(text_ids, temperature=temperature, top_k=top_k, seed=3)
    full = model.sample(text_ids, temperature=temperature, top_k=top_k, seed=3, use_cache=False)
    assert cached.shape == (4, 6) and cached.dtype == np.int32
    np.testing.assert_array_equal(cached, full)


def test_sampling_emits_only_image_codes_even_when_text_is_likelier():
    keras.utils.set_random_seed(1)
    m = TokenTransformer(TINY)
    bias = np.zeros(18, "float32")
    bias[:10] = 50.0  # every text id far likelier than any image id
    m.head.bias.assign(bias)
    assert int(np.argmax(np.asarray(m(random_ids()))[0, -1])) < 10
    for use_cache in (True, False):
        codes = m.sample(random_ids()[:, :2], n_image_tokens=5, seed=0, use_cache=use_cache)
        assert codes.shape == (3, 5) and codes.min() >= 0 and codes.max() < 8  # codes in [0, K)


def test_same_seed_same_tokens_other_seed_different(model):
    text_ids = random_ids(4)[:, :4]
    a = model.sample(text_ids, seed=0)
    np.testing.assert_array_equal(a, model.sample(text_ids, seed=0))
    assert (a != model.sample(text_ids, seed=1)).any()


def test_top_k_1_is_greedy(model):
    text_ids = random_ids(3, seed=2)[:, :4]
    ids = text_ids.copy()
    for _ in range(6):  # greedy by hand: the argmax over the image range, fed back
        logits = np.asarray(model(ids))[:, -1, 10:]
        ids = np.concatenate([ids, 10 + logits.argmax(-1)[:, None]], axis=1).astype("int32")
    for seed in (0, 1):
        np.testing.assert_array_equal(model.sample(text_ids, top_k=1, seed=seed), ids[:, 4:] - 10)


def test_a_short_caption_is_padded_to_the_text_context(model):
    short = np.array([[3, 5]], "int32")
    padded = np.array([[3, 5, 0, 0]], "int32")
    np.testing.assert_array_equal(model.sample(short, seed=4), model.sample(padded, seed=4))


@pytest.mark.parametrize("kwargs, message", [
    (dict(temperature=0.0), "temperature must be > 0"),
    (dict(temperature=-1.0), "temperature must be > 0"),
    (dict(top_k=0), "top_k must be in [1, 8]"),
    (dict(top_k=9), "top_k must be in [1, 8]"),
    (dict(n_image_tokens=7), "n_image_tokens must be in [1, 6]"),
    (dict(text_ids=np.ones((2, 5), "int32")), "text has 5 tokens; the text context holds 4"),
    (dict(text_ids=np.array([[1, 10]])), "text ids must be in [0, 10)"),
    (dict(text_ids=np.array([[1, -1]])), "text ids must be in [0, 10)"),
    (dict(text_ids=np.ones((2, 3), "float32")), "must be integers of shape (batch, length)"),
    (dict(text_ids=np.ones(3, "int32")), "must be integers of shape (batch, length)"),
])
def test_bad_sampling_input_raises_one_line_errors(model, kwargs, message):
    kwargs = {"text_ids": np.ones((2, 3), "int32"), **kwargs}
    with pytest.raises(ValueError) as err:
        model.sample(**kwargs)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("ids, message", [
    (np.ones((1, 11), "int32"), "11 positions; the context holds 10"),
    (np.array([[1, 2, 3, 4, 9]]), "image ids must be in [10, 18)"),
    (np.array([[1, 2, 3, 4, 18]]), "image ids must be in [10, 18)"),
    (np.array([[1, 12, 3]]), "text ids must be in [0, 10)"),
])
def test_out_of_range_ids_raise(model, ids, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        model(ids)


def test_config_unknown_keys_and_bad_sizes_raise():
    with pytest.raises(ValueError, match="unknown TransformerConfig keys: layers"):
        TransformerConfig.from_dict({"layers": 3})
    with pytest.raises(ValueError, match="not divisible by heads"):
        TransformerConfig(width=10, heads=4)
    with pytest.raises(ValueError, match=r"^TransformerConfig\.depth must be an integer > 0, got 0$"):
        TransformerConfig(depth=0)
    assert TransformerConfig.from_dict(TransformerConfig(**TINY).to_dict()) == TransformerConfig(**TINY)


def test_a_tiny_model_memorises_a_tiny_dataset():
    keras.utils.set_random_seed(0)
    ids = random_ids(8, seed=7)
    ids[:, 0] = np.arange(1, 9)  # the first word tells the sequences apart; the rest is learnable
    m = TokenTransformer({**TINY, "width": 32, "depth": 1})  # one block: tracing fit's step is the cost
    before = float(sequence_loss(m(ids), ids, 4))
    m.compile(keras.optimizers.Adam(3e-3))
    # 100 steps in one epoch (an epoch each costs more than a step), the loss via compute_loss
    m.fit(np.tile(ids, (100, 1)), batch_size=8, epochs=1, shuffle=False, verbose=0)
    after = float(sequence_loss(m(ids), ids, 4))
    assert before > 1.5 and after < 0.1 * before, (before, after)
    np.testing.assert_array_equal(m.sample(ids[:, :4], top_k=1), ids[:, 4:] - 10)  # recalls the images
