"""The text-to-image GAN (Chapter 6): config, text encoder, training, files, errors."""

import json
import shutil
import warnings

import numpy as np
import pytest

from dalle_edu import api, t2i, text
from dalle_edu.data import shapes

# mode_seeking on, so the exact-resume test covers that path of train_step too
TINY = dict(n_train=256, steps=12, encoder_steps=30, width=8, batch_size=16, latent_dim=16,
            mode_seeking=1.0)


def test_config_rejects_unknown_keys_and_sizes_by_preset():
    with pytest.raises(ValueError, match="unknown T2IConfig keys: widht"):
        t2i.T2IConfig.from_dict({"widht": 3})
    assert t2i.T2IConfig.for_preset("cpu").image_size == 32
    assert t2i.T2IConfig.for_preset("gpu").image_size == 64  # book/shapes_world.md
    assert t2i.T2IConfig.for_preset("smoke", steps=7).steps == 7


def test_condition_layout():
    assert t2i.COND_DIM == 8 + 4 + 3 + 4 + 4
    cond = np.zeros((2, t2i.COND_DIM), np.float32)
    cond[1, t2i.UNSAID_INDEX["vpos"]] = 0.9  # second prompt leaves the vertical position out
    np.testing.assert_array_equal(t2i.named_mask(cond), [[1, 1, 1, 1, 1], [1, 1, 1, 0, 1]])


def test_text_encoder_is_a_bag_of_words():
    enc = t2i.build_text_encoder(8)
    a, b = t2i.encode_prompts(enc, ["a big red circle at the top left", "the top left red big circle at a"])
    np.testing.assert_allclose(a, b, atol=1e-6)  # word order and padding do not matter
    for k in t2i.HEADS:
        assert a[t2i.SLICES[k]].sum() == pytest.approx(1.0, abs=1e-5)  # one distribution per head


def test_pretrained_encoder_reads_held_out_pairs():
    enc = t2i.pretrain_text_encoder(t2i.build_text_encoder(32), steps=300, seed=0)
    prompts = ["a green triangle", "a big blue circle at the bottom right", "an orange square",
               "a small white diamond in the center"]
    cond = t2i.encode_prompts(enc, prompts)
    got = [shapes.VALUES["color"][int(np.argmax(c[:8]))] + " " + shapes.SHAPES[int(np.argmax(c[8:12]))]
           for c in cond]
    assert got == ["green triangle", "blue circle", "orange square", "white diamond"]
    np.testing.assert_array_equal(t2i.named_mask(cond)[:, 2:], [[0, 0, 0], [1, 1, 1], [0, 0, 0], [1, 1, 1]])


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("t2i")
    model = t2i.train(t2i.T2IConfig(**TINY), out, verbose=0, checkpoint_every=6)
    return out, model


def test_generate_shape_dtype_and_determinism(tiny_model):
    out, model = tiny_model
    prompts = ["a big red circle at the top left", "a blue circle"]
    a = model.generate(prompts, seed=0)
    assert a.shape == (2, 32, 32, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, model.generate(prompts, seed=0))
    assert not np.array_equal(a, model.generate(prompts, seed=1))
    assert model.generate(prompts, seed=0, n_per_prompt=3).shape == (6, 32, 32, 3)
    loaded = t2i.TextToImage.load(out)
    np.testing.assert_array_equal(a, loaded.generate(prompts, seed=0))  # saved == trained


def test_resume_continues_exactly(tiny_model, tmp_path):
    out, model = tiny_model
    half = t2i.T2IConfig(**{**TINY, "steps": 6})
    t2i.train(half, tmp_path, verbose=0, checkpoint_every=6)  # "killed" after step 6
    resumed = t2i.train(t2i.T2IConfig(**TINY), tmp_path, resume=True, verbose=0, checkpoint_every=6)
    for w_full, w_resumed in zip(model.generator.get_weights(), resumed.generator.get_weights()):
        np.testing.assert_array_equal(w_full, w_resumed)


def test_resuming_a_decayed_run_for_more_steps_says_it_is_another_run(tiny_model, tmp_path):
    decay = {**TINY, "lr_decay": 0.5}
    t2i.train(t2i.T2IConfig(**{**decay, "steps": 6}), tmp_path / "a", verbose=0, checkpoint_every=6)
    with pytest.warns(UserWarning, match="jumps back up"):
        longer = t2i.train(t2i.T2IConfig(**decay), tmp_path / "a", resume=True, verbose=0,
                           checkpoint_every=6)
    # and it is indeed not the 12-step decayed run from scratch
    fresh = t2i.train(t2i.T2IConfig(**decay), tmp_path / "b", verbose=0, checkpoint_every=6)
    assert any(not np.array_equal(a, b) for a, b in
               zip(longer.generator.get_weights(), fresh.generator.get_weights()))
    # resuming the same run (interrupted, or already finished) is exact and says nothing
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t2i.train(t2i.T2IConfig(**decay), tmp_path / "b", resume=True, verbose=0, checkpoint_every=6)
    assert not [w for w in caught if "learning-rate schedule" in str(w.message)]


def test_resuming_with_another_constant_rate_is_a_clear_error(tmp_path):
    # the optimizers' checkpoints restore their rate, so a new one would be silently
    # ignored: an error instead, and the folder's record of the run is left as it was
    short = t2i.T2IConfig(**{**TINY, "steps": 6})
    t2i.train(short, tmp_path, verbose=0, checkpoint_every=6)
    with pytest.raises(ValueError, match="saved with learning rate 0.0002 .* asks for 0.0004"):
        t2i.train(t2i.T2IConfig(**{**TINY, "lr": 4e-4}), tmp_path, resume=True, verbose=0)
    assert json.loads((tmp_path / "config.json").read_text())["lr"] == 2e-4  # the default


def test_a_step_schedule_drops_at_a_step_so_more_steps_continue_it_exactly(tiny_model, tmp_path):
    drop = {**TINY, "lr_drop_at": 3, "lr_drop": 0.25, "n_critic": 2}
    gan = t2i.build_gan(t2i.T2IConfig(**{**drop, "lr": 8e-4}))
    sched = gan.g_optimizer._learning_rate
    np.testing.assert_allclose([float(sched(s)) for s in range(5)], [8e-4] * 3 + [2e-4] * 2)
    d_sched = gan.d_optimizer._learning_rate  # D updates twice a step: drops at update 6
    np.testing.assert_allclose([float(d_sched(s)) for s in (5, 6)], [8e-4, 2e-4])
    # a 6-step run resumed to 12 steps is the 12-step run: the drop is at step 3 in both
    t2i.train(t2i.T2IConfig(**{**drop, "steps": 6}), tmp_path / "a", verbose=0, checkpoint_every=6)
    longer = t2i.train(t2i.T2IConfig(**drop), tmp_path / "a", resume=True, verbose=0)
    fresh = t2i.train(t2i.T2IConfig(**drop), tmp_path / "b", verbose=0, checkpoint_every=6)
    for a, b in zip(longer.generator.get_weights(), fresh.generator.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.warns(UserWarning, match="not one run of the new schedule"):  # a moved drop
        t2i.train(t2i.T2IConfig(**{**drop, "lr_drop_at": 5}), tmp_path / "b", resume=True,
                  verbose=0)
    # a constant-rate run cannot be resumed with a schedule (nor the other way round)
    constant = shutil.copytree(tiny_model[0], tmp_path / "c")
    with pytest.raises(ValueError, match="constant learning rate, and this one has a schedule"):
        t2i.train(t2i.T2IConfig(**{**TINY, "lr_drop_at": 3}), constant, resume=True, verbose=0)
    with pytest.raises(ValueError, match="choose one"):
        t2i.T2IConfig.from_dict({**TINY, "lr_drop_at": 3, "lr_decay": 0.5})
    with pytest.raises(ValueError, match="a factor in"):
        t2i.T2IConfig.from_dict({**TINY, "lr_drop_at": 3, "lr_drop": 0.0})


def test_resume_without_a_run_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="nothing to resume"):
        t2i.train(t2i.T2IConfig(**TINY), tmp_path / "empty", resume=True, verbose=0)


def test_bad_prompts_are_clear_errors(tiny_model):
    out, _ = tiny_model
    with pytest.raises(ValueError, match="unknown word 'purple'"):
        api.generate(["a purple circle"], weights=out)
    with pytest.raises(ValueError, match="empty prompt"):
        api.generate([""], weights=out)
    with pytest.raises(ValueError, match="contradictory"):
        api.generate(["a red blue circle"], weights=out)
    with pytest.raises(ValueError, match="no prompts"):
        api.generate([], weights=out)


def _copy_model(src, dst):
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("checkpoints"))
    return dst


def test_weights_errors(tiny_model, tmp_path):
    out, _ = tiny_model
    with pytest.raises(t2i.WeightsError, match="missing config.json"):
        t2i.TextToImage.load(tmp_path)
    broken = _copy_model(out, tmp_path / "broken")
    (broken / "generator.weights.h5").write_bytes(b"not an hdf5 file")
    with pytest.raises(t2i.WeightsError, match="generator.weights.h5"):
        t2i.TextToImage.load(broken)
    other = _copy_model(out, tmp_path / "other")
    config = json.loads((other / "config.json").read_text())
    config["width"] *= 2  # weights of another architecture
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(t2i.WeightsError, match="does not fit this architecture"):
        t2i.TextToImage.load(other)
    (other / "config.json").write_text("{not json")
    with pytest.raises(t2i.WeightsError, match="corrupt config"):
        t2i.TextToImage.load(other)


def test_cli_generate_and_its_errors(tiny_model, tmp_path, capsys):
    from dalle_edu import cli

    out, _ = tiny_model
    png = tmp_path / "grid.png"
    assert cli.main(["generate", "a big red circle at the top left", "a blue circle", "-n", "3",
                     "-o", str(png), "--weights", str(out)]) == 0
    from PIL import Image

    # 3 per row, 2 rows, 1-px gaps, each pixel drawn 8x8 (256 // 32) so the grid is easy to see,
    # with a column on the left that names each row's prompt
    width, height = Image.open(png).size
    assert height == 8 * (2 * 33 - 1) and width > 8 * (3 * 33 - 1) + 100
    label = np.asarray(Image.open(png).convert("L"))[:, : width - 8 * (3 * 33 - 1)]
    assert (label < 128).any(axis=1)[: 8 * 32].any() and (label < 128).any(axis=1)[8 * 33:].any()
    capsys.readouterr()
    for argv, message in [
        (["generate", "a purpel circle", "--weights", str(out)], "unknown word 'purpel'"),
        (["generate", "a circle", "--weights", str(tmp_path / "none")], "no trained model"),
        (["generate", "a red circle", "-o", str(tmp_path / "x.txt"), "--weights", str(out)], ".png"),
    ]:
        assert cli.main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("dalle-edu: error:") and message in err and "\n" not in err


def test_gpu_preset_trains_at_64(tmp_path, monkeypatch):
    """The gpu preset's architecture (64x64, wider) builds and takes a step on any machine."""
    config = t2i.T2IConfig.for_preset("gpu", n_train=256, steps=2, encoder_steps=10, batch_size=8)
    assert (config.image_size, config.width) == (64, 64)
    build = t2i.training.build_gan

    def build_eager(*args, **kwargs):  # two steps: tracing the step would cost more
        gan = build(*args, **kwargs)
        gan.run_eagerly = True
        return gan

    monkeypatch.setattr(t2i.training, "build_gan", build_eager)
    model = t2i.train(config, tmp_path, verbose=0)
    assert model.generate(["a white diamond"], seed=0).shape == (1, 64, 64, 3)


def test_fill_unsaid_samples_only_what_the_prompt_leaves_out():
    enc = t2i.pretrain_text_encoder(t2i.build_text_encoder(32), steps=300, seed=0)
    cond = t2i.encode_prompts(enc, ["a red circle"] * 200 + ["a big red circle at the top left"])
    filled = t2i.fill_unsaid(cond, np.random.default_rng(0))
    np.testing.assert_array_equal(filled[:, :12], cond[:, :12])  # colour and shape untouched
    np.testing.assert_array_equal(filled[-1], cond[-1])  # a complete prompt is left alone
    assert t2i.named_mask(filled).min() == 1.0  # every head now names a value
    picks = {tuple(np.argmax(filled[i, t2i.SLICES[k]]) for k in ("vpos", "hpos")) for i in range(200)}
    assert len(picks) == 9  # all nine positions drawn for "a red circle"
    np.testing.assert_array_equal(filled, t2i.fill_unsaid(cond, np.random.default_rng(0)))


def test_shipped_model_generates_without_training():
    images = api.generate(["a big red circle at the top left", "a blue circle"], seed=0)
    assert images.shape == (2, 32, 32, 3) and images.dtype == np.uint8
    np.testing.assert_array_equal(images, api.generate(["a big red circle at the top left",
                                                        "a blue circle"], seed=0))
    # the probe reads the complete prompt back from the shipped model's picture
    probe = api.load_probe()
    read = probe.predict(images[:1])[0]
    assert read == dict(color="red", shape="circle", size="big", vpos="top", hpos="left")


def test_spectral_norm_and_two_time_scales_reach_d():
    """Issue 11's options: D's weights spectrally normalised, and D's own learning rate."""
    base = t2i.T2IConfig(**{**TINY, "steps": 1})
    plain = t2i.build_gan(base)
    sn = t2i.build_gan(t2i.T2IConfig(**{**TINY, "steps": 1, "spectral_norm": True, "d_lr": 4e-4,
                                        "lr": 1e-4}))
    assert len(sn.discriminator.weights) > len(plain.discriminator.weights)  # power-iteration vectors
    assert float(sn.d_optimizer.learning_rate) == pytest.approx(4e-4)
    assert float(sn.g_optimizer.learning_rate) == pytest.approx(1e-4)
    assert float(plain.d_optimizer.learning_rate) == float(plain.g_optimizer.learning_rate)


def test_lr_decay_holds_then_falls_linearly_to_zero():
    """lr_decay=0.25 over 8 updates: lr for 6 of them, then linearly to 0 at update 8."""
    sched = t2i.gan.HoldThenLinear(2e-4, steps=8, decay_steps=2)
    got = [float(sched(s)) for s in range(10)]
    np.testing.assert_allclose(got, [2e-4] * 7 + [1e-4, 0.0, 0.0], atol=1e-10)
    gan = t2i.build_gan(t2i.T2IConfig(**{**TINY, "lr_decay": 0.25, "n_critic": 2}))
    assert float(gan.g_optimizer.learning_rate) == pytest.approx(2e-4)  # at update 0
    assert isinstance(gan.d_optimizer._learning_rate, t2i.gan.HoldThenLinear)
    assert gan.d_optimizer._learning_rate.steps == 2 * TINY["steps"]  # D updates twice a step
    with pytest.raises(ValueError, match="lr_decay is a share of the steps"):
        t2i.T2IConfig.from_dict({**TINY, "lr_decay": 1.5})


def test_final_conv_and_d_stem_reach_the_models_and_old_configs_still_load():
    config = t2i.T2IConfig(**{**TINY, "final_conv": True, "d_stem": True})
    assert type(t2i.build_generator(config).get_layer("to_image")).__name__ == "Conv2D"
    assert t2i.build_gan(config).discriminator.get_layer("stem").output.shape[1] == 32
    assert t2i.T2IConfig.from_dict(config.to_dict()).final_conv is True
    old = {k: v for k, v in config.to_dict().items() if k not in ("final_conv", "d_stem")}
    assert t2i.T2IConfig.from_dict(old).final_conv is False and not t2i.T2IConfig.from_dict(old).d_stem
    assert type(t2i.build_generator(t2i.T2IConfig.from_dict(old)).get_layer("to_image")
                ).__name__ == "Conv2DTranspose"


def test_r1_gamma_reaches_the_gan_and_old_configs_load_without_it():
    assert t2i.build_gan(t2i.T2IConfig(**{**TINY, "r1_gamma": 0.5})).r1_gamma == 0.5
    old = {k: v for k, v in t2i.T2IConfig(**TINY).to_dict().items() if k != "r1_gamma"}
    assert t2i.T2IConfig.from_dict(old).r1_gamma == 0.0
