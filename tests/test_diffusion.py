"""Diffusion (Chapter 13): the maths against closed forms, the U-Net, the model and its errors."""

import json

import keras
import numpy as np
import pytest
from helpers import Interrupt

from dalle_edu import api, cli, diffusion, t2i
from dalle_edu.image_tokenizer import VQVAE
from dalle_edu.models.unet import build_unet
from dalle_edu.models.vqvae import VQConfig

TINY = dict(n_train=256, steps=12, width=8, batch_size=8, warmup=2, sample_steps=4)
PROMPTS = ["a red circle", "a big blue square at the top left"]
SHIPPED_TOKENIZER = api.WEIGHTS_DIR / "dalle_cpu" / "tokenizer"


# --- the maths ----------------------------------------------------------------------------

@pytest.mark.parametrize("schedule", diffusion.SCHEDULES)
def test_alpha_bar_falls_from_one_to_almost_zero(schedule):
    ab = diffusion.alpha_bar(schedule, 1_000)
    assert ab.shape == (1_000,) and np.all(np.diff(ab) < 0)
    assert 0.99 < ab[0] < 1 and 0 <= ab[-1] < 1e-3


def test_the_linear_schedule_is_the_product_of_one_minus_beta():
    betas = np.linspace(1e-4, 0.02, 1_000)
    np.testing.assert_allclose(diffusion.alpha_bar("linear"), np.cumprod(1 - betas))
    with pytest.raises(ValueError, match="schedule must be one of cosine, linear"):
        diffusion.alpha_bar("quadratic")


def test_q_sample_has_the_closed_form_moments():
    """x_t = sqrt(ab) x0 + sqrt(1 - ab) eps: mean sqrt(ab) x0, variance 1 - ab, at every t."""
    rng = np.random.default_rng(0)
    ab = diffusion.alpha_bar("cosine")[[0, 300, 700, 999]]
    x0 = np.array([0.8, -0.3, 0.0, 1.0], np.float32)  # one value per t
    n = 200_000
    eps = rng.standard_normal((n, 4)).astype("float32")
    x_t = np.asarray(diffusion.q_sample(np.tile(x0, (n, 1)).T.copy(), ab, eps.T.copy())).T
    se_mean = np.sqrt((1 - ab) / n)
    assert np.all(np.abs(x_t.mean(0) - np.sqrt(ab) * x0) < 5 * se_mean)
    np.testing.assert_allclose(x_t.var(0), 1 - ab, rtol=0.02, atol=1e-4)


def test_v_gives_back_x0_and_eps_exactly_and_its_loss_is_eps_loss_over_one_minus_ab():
    rng = np.random.default_rng(1)
    x0, eps = rng.standard_normal((2, 5, 4, 4, 3)).astype("float32")
    ab = np.array([0.999, 0.9, 0.5, 0.1, 0.001], np.float32)
    x_t = np.asarray(diffusion.q_sample(x0, ab, eps))
    v = np.asarray(diffusion.v_target(x0, ab, eps))
    np.testing.assert_allclose(v, np.sqrt(ab)[:, None, None, None] * eps
                               - np.sqrt(1 - ab)[:, None, None, None] * x0, rtol=1e-6)
    x0_hat, eps_hat = map(np.asarray, diffusion.x0_eps_from_v(x_t, ab, v))
    np.testing.assert_allclose(x0_hat, x0, atol=1e-5)
    np.testing.assert_allclose(eps_hat, eps, atol=1e-5)
    # a wrong v: its squared error is eps's over ab, and x0's over (1 - ab)
    v_bad = v + rng.standard_normal(v.shape).astype("float32") * 0.1
    x0_bad, eps_bad = map(np.asarray, diffusion.x0_eps_from_v(x_t, ab, v_bad))
    per_v = ((v_bad - v) ** 2).reshape(5, -1).mean(1)
    per_eps = ((eps_bad - eps) ** 2).reshape(5, -1).mean(1)
    per_x0 = ((x0_bad - x0) ** 2).reshape(5, -1).mean(1)
    np.testing.assert_allclose(per_v, per_eps / ab, rtol=1e-3)
    np.testing.assert_allclose(per_v, per_x0 / (1 - ab), rtol=1e-3)
    assert float(diffusion.v_loss(v_bad, v)) == pytest.approx(((v_bad - v) ** 2).mean(), rel=1e-6)


def test_timesteps_run_down_from_t_minus_1_to_0_and_bad_counts_are_one_line_errors():
    ts = diffusion.timesteps(1_000, 25)
    assert len(ts) == 25 and ts[0] == 999 and ts[-1] == 0 and np.all(np.diff(ts) < 0)
    assert list(diffusion.timesteps(4, 4)) == [3, 2, 1, 0]
    for bad in (0, -3, 1_001, 2.5, "10", True):
        with pytest.raises(ValueError, match=r"sampling steps must be an integer in \[1, 1000\]"):
            diffusion.timesteps(1_000, bad)
    for bad in (-1, "abc", float("nan"), None):
        with pytest.raises(ValueError, match="guidance must be a number >= 0"):
            diffusion.check_guidance(bad)


def _perfect_v(x_t, x0, ab):
    """What a denoiser that knows x0 predicts: v from x_t and x0."""
    eps = (x_t - np.sqrt(ab) * x0) / np.sqrt(1 - ab)
    return np.sqrt(ab) * eps - np.sqrt(1 - ab) * x0


@pytest.mark.parametrize("steps", [1, 5, 50])
def test_ddim_with_eta_0_and_a_perfect_denoiser_lands_on_x0_from_any_noise(steps):
    rng = np.random.default_rng(2)
    x0 = rng.uniform(-1, 1, (3, 4, 4, 2)).astype("float64")
    ab = diffusion.alpha_bar("cosine")
    ts = diffusion.timesteps(1_000, steps)
    x = rng.standard_normal(x0.shape)
    start = x.copy()
    for j, t in enumerate(ts):
        ab_s = ab[ts[j + 1]] if j + 1 < len(ts) else 1.0
        x = np.asarray(diffusion.ddim_step(x, _perfect_v(x, x0, ab[t]), ab[t], ab_s, eta=0.0))
    np.testing.assert_allclose(x, x0, atol=1e-4)  # keras.ops compute in float32
    again = start
    for j, t in enumerate(ts):  # deterministic: the same start gives the same end
        ab_s = ab[ts[j + 1]] if j + 1 < len(ts) else 1.0
        again = np.asarray(diffusion.ddim_step(again, _perfect_v(again, x0, ab[t]), ab[t], ab_s))
    np.testing.assert_array_equal(again, x)


def test_ddim_with_eta_1_one_step_back_is_ddpms_posterior():
    """eta = 1, s = t - 1: mean and variance of q(x_{t-1} | x_t, x0) (Ho et al. eq. 6-7)."""
    ab = diffusion.alpha_bar("linear")
    t, s = 500, 499
    beta = 1 - ab[t] / ab[s]
    rng = np.random.default_rng(3)
    x0, x_t = rng.standard_normal((2, 1, 8))
    v = _perfect_v(x_t, x0, ab[t])
    mean = np.asarray(diffusion.ddim_step(x_t, v, ab[t], ab[s], eta=1.0, z=np.zeros_like(x_t)))
    posterior_mean = (np.sqrt(ab[s]) * beta / (1 - ab[t]) * x0
                      + np.sqrt(1 - beta) * (1 - ab[s]) / (1 - ab[t]) * x_t)
    np.testing.assert_allclose(mean, posterior_mean, atol=1e-9)
    one = np.asarray(diffusion.ddim_step(x_t, v, ab[t], ab[s], eta=1.0, z=np.ones_like(x_t)))
    sigma = (one - mean)[0, 0]
    assert sigma ** 2 == pytest.approx((1 - ab[s]) / (1 - ab[t]) * beta, rel=1e-9)
    with pytest.raises(ValueError, match="needs noise z"):
        diffusion.ddim_step(x_t, v, ab[t], ab[s], eta=1.0)


def test_guidance_1_is_the_conditional_prediction_and_0_the_unconditional():
    c, u = np.array([1.0, 2.0]), np.array([0.5, -1.0])
    np.testing.assert_array_equal(diffusion.guide(c, u, 1.0), c)
    np.testing.assert_array_equal(diffusion.guide(c, u, 0.0), u)
    np.testing.assert_allclose(diffusion.guide(c, u, 3.0), u + 3 * (c - u))


# --- the U-Net ----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["film", "cross"])
def test_the_unet_keeps_the_shape_and_starts_at_zero(kind):
    unet = build_unet((8, 8, 6), widths=(8, 16), blocks=1, text_dim=5, text=kind, word_dim=4,
                      max_words=3)
    b = 2
    inputs = [np.random.default_rng(0).standard_normal((b, 8, 8, 6)).astype("float32"),
              np.array([0.0, 999.0], np.float32), np.ones((b, 5), np.float32)]
    if kind == "cross":
        inputs += [np.ones((b, 3, 4), np.float32), np.zeros((b, 3), np.float32)]  # every word dropped
    v = keras.ops.convert_to_numpy(unet(inputs))
    assert v.shape == (b, 8, 8, 6)
    np.testing.assert_array_equal(v, 0.0)  # zero-initialised output: v = 0 until it learns


def test_the_unet_names_a_bad_text_kind():
    with pytest.raises(ValueError, match="text must be one of film, cross"):
        build_unet((8, 8, 3), text="lstm")


# --- the model ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("diffusion")
    model = t2i.train_diffusion(t2i.DiffusionConfig(**TINY), out, verbose=0, checkpoint_every=6,
                                clip=api.DEFAULT_CLIP, tokenizer=SHIPPED_TOKENIZER)
    return out, model


def test_a_trained_model_draws_the_same_images_after_saving_and_loading(tiny):
    out, model = tiny
    images = model.generate(PROMPTS, seed=3, n_per_prompt=2)
    assert images.shape == (4, 32, 32, 3) and images.dtype == np.uint8
    loaded = t2i.Diffusion.load(out)
    np.testing.assert_array_equal(loaded.generate(PROMPTS, seed=3, n_per_prompt=2), images)
    assert not np.array_equal(model.generate(PROMPTS, seed=4, n_per_prompt=2), images)
    np.testing.assert_array_equal(model.generate(PROMPTS, seed=3, n_per_prompt=2, batch_size=3)[:3],
                                  images[:3])  # batch 0 holds the same three
    saved = json.loads((out / "training.json").read_text())
    assert saved["unet_seconds"] > 0


def test_an_interrupted_run_resumes_exactly(tiny, tmp_path):
    _, full = tiny
    kw = dict(verbose=0, checkpoint_every=6, clip=api.DEFAULT_CLIP, tokenizer=SHIPPED_TOKENIZER)
    with pytest.raises(KeyboardInterrupt):
        t2i.train_diffusion(t2i.DiffusionConfig(**TINY), tmp_path, callbacks=[Interrupt(6)], **kw)
    assert not (tmp_path / "unet.weights.h5").exists()
    resumed = t2i.train_diffusion(t2i.DiffusionConfig(**TINY), tmp_path, resume=True, verbose=0,
                                  checkpoint_every=6)  # the tower and tokenizer it saved
    for a, b in zip(full.unet.get_weights(), resumed.unet.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(full.generate(PROMPTS, seed=1), resumed.generate(PROMPTS, seed=1))


def test_a_resumed_run_with_another_noise_schedule_is_a_one_line_error(tiny):
    out, _ = tiny
    with pytest.raises(ValueError) as err:
        t2i.train_diffusion(t2i.DiffusionConfig(**{**TINY, "schedule": "linear"}), out, resume=True,
                            verbose=0)
    assert "\n" not in str(err.value) and "(schedule)" in str(err.value)


@pytest.mark.parametrize("kwargs, says", [
    (dict(steps=0), r"sampling steps must be an integer in \[1, 1000\], got 0"),
    (dict(steps="ten"), "sampling steps must be an integer"),
    (dict(guidance=-1.0), "guidance must be a number >= 0"),
    (dict(guidance="high"), "guidance must be a number >= 0"),
    (dict(eta=2.0), r"eta must be a number in \[0, 1\]"),
    (dict(seed=-1), "seed must be a non-negative integer"),
    (dict(n_per_prompt=0), "n_per_prompt must be an integer >= 1"),
])
def test_bad_sampling_options_are_one_line_errors(tiny, kwargs, says):
    _, model = tiny
    with pytest.raises(ValueError, match=says) as err:
        model.generate(PROMPTS, **kwargs)
    assert "\n" not in str(err.value)


def test_a_tokenizer_that_does_not_fit_the_config_is_a_one_line_error(tmp_path):
    other = VQVAE(VQConfig(image_size=32, tokens_per_side=4, width=4, codebook_size=8))
    with pytest.raises(ValueError, match="the tokenizer turns 32x32 images into a 4x4 latent grid; "
                                         "the config asks for 32x32 -> 8x8"):
        t2i.train_diffusion(t2i.DiffusionConfig(**TINY), tmp_path, verbose=0, clip=api.DEFAULT_CLIP,
                            tokenizer=other)


def test_pixel_and_cross_attention_variants_train_and_draw(tmp_path):
    for i, kw in enumerate([dict(space="pixel", levels=3), dict(text="cross")]):
        config = t2i.DiffusionConfig(**{**TINY, "steps": 2, **kw})
        model = t2i.train_diffusion(config, tmp_path / str(i), verbose=0, clip=api.DEFAULT_CLIP,
                                    tokenizer=SHIPPED_TOKENIZER)
        images = t2i.Diffusion.load(tmp_path / str(i)).generate(PROMPTS, steps=2)
        np.testing.assert_array_equal(images, model.generate(PROMPTS, steps=2))
        assert images.shape == (2, 32, 32, 3)


def test_the_shipped_model_loads_and_draws_within_its_size_budget():
    folder = api.WEIGHTS_DIR / "diffusion_cpu"
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    assert size < 5 * 2 ** 20, f"{size / 2 ** 20:.2f} MiB"
    images = api.generate(PROMPTS, model="diffusion", seed=0, steps=5, guidance=2.0)
    assert images.shape == (2, 32, 32, 3)
    np.testing.assert_array_equal(images, api.generate(PROMPTS, model="diffusion", seed=0, steps=5,
                                                       guidance=2.0))
    with pytest.raises(ValueError, match="model 'gan' takes no sampling option guidance"):
        api.generate(PROMPTS, model="gan", guidance=2.0)


@pytest.mark.parametrize("argv, says", [
    (["--steps", "0"], "sampling steps must be an integer in [1, 1000], got 0"),
    (["--guidance", "-2"], "guidance must be a number >= 0"),
])
def test_the_command_names_bad_sampling_options_in_one_line(argv, says, capsys, tmp_path):
    code = cli.main(["generate", "a red circle", "--model", "diffusion", "-n", "1",
                     "-o", str(tmp_path / "g.png"), *argv])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("dalle-edu: error: ") and "\n" not in err and says in err, err


def test_the_command_trains_and_draws_with_the_diffusion_model(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", "--model", "diffusion", "--preset", "smoke", "--out", str(out)]) == 0
    assert cli.main(["generate", "a green triangle", "--model", "diffusion", "--weights", str(out),
                     "-n", "2", "--steps", "3", "-o", str(tmp_path / "g.png")]) == 0
    assert (tmp_path / "g.png").is_file()
