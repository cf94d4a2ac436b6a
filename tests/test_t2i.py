"""The text-to-image GAN (Chapter 7): config, text encoder, training, files, errors."""

import json
import shutil

import numpy as np
import pytest

from dalle_edu import api, t2i
from dalle_edu.data import shapes

TINY = dict(n_train=256, steps=12, encoder_steps=30, width=8, batch_size=16, latent_dim=16)


def test_config_rejects_unknown_keys_and_sizes_by_preset():
    with pytest.raises(ValueError, match="unknown T2IConfig keys: widht"):
        t2i.T2IConfig.from_dict({"widht": 3})
    assert t2i.T2IConfig.for_preset("cpu").image_size == 32
    assert t2i.T2IConfig.for_preset("gpu").image_size == 64  # book/shapes_world.md
    assert t2i.T2IConfig.for_preset("smoke", steps=7).steps == 7


@pytest.mark.parametrize("key, value, message", [
    ("steps", "abc", "T2IConfig.steps must be an integer > 0, got 'abc'"),
    ("steps", 0, "T2IConfig.steps must be an integer > 0, got 0"),
    ("lr", -1e-4, "T2IConfig.lr must be a number > 0, got -0.0001"),
    ("ema", 1.0, "T2IConfig.ema must be a number in [0, 1), got 1.0"),
    ("loss", "lsgan", "T2IConfig.loss must be one of 'minimax', "),
    ("matching_aware", 1, "T2IConfig.matching_aware must be true or false, got 1"),
])
def test_config_checks_every_value_when_it_is_made(key, value, message):
    with pytest.raises(ValueError) as err:
        t2i.T2IConfig.from_dict({**TINY, key: value})
    assert str(err.value).startswith(message) and "\n" not in str(err.value)
    assert t2i.T2IConfig(lr=1).lr == 1.0 and isinstance(t2i.T2IConfig(lr=1).lr, float)  # an int is a number


def test_the_ablation_only_fields_are_gone():
    """22 fields, the recipes; the ablations' knobs (benchmarks pass their own D or optimizers
    to build_gan) are unknown keys now, named in the error."""
    assert len(t2i.T2IConfig().to_dict()) == 22
    for key in ("lr_decay", "lr_drop_at", "lr_drop", "d_lr", "spectral_norm", "r1_gamma",
                "clip_weight", "text_finetune", "mode_seeking", "gan_int", "jit_compile"):
        with pytest.raises(ValueError, match=f"unknown T2IConfig keys: {key}; valid: "):
            t2i.T2IConfig.from_dict({key: 1})


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


def test_resuming_with_more_steps_at_the_constant_rate_is_the_longer_run(tmp_path):
    """steps is the one field a resumed run may change: a 6-step run (n_critic 2: D's
    optimizer counts two updates a step) resumed to 12 steps is the 12-step run, bit for bit."""
    two = {**TINY, "n_critic": 2}
    t2i.train(t2i.T2IConfig(**{**two, "steps": 6}), tmp_path / "a", verbose=0, checkpoint_every=6)
    longer = t2i.train(t2i.T2IConfig(**two), tmp_path / "a", resume=True, verbose=0)
    fresh = t2i.train(t2i.T2IConfig(**two), tmp_path / "b", verbose=0, checkpoint_every=6)
    for a, b in zip(longer.generator.get_weights(), fresh.generator.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert json.loads((tmp_path / "a" / "config.json").read_text())["steps"] == 12  # the saved model's
    # resuming a finished run is exact too: nothing left to train, nothing changes
    again = t2i.train(t2i.T2IConfig(**two), tmp_path / "b", resume=True, verbose=0)
    for a, b in zip(again.generator.get_weights(), fresh.generator.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_resume_before_the_first_checkpoint_starts_from_step_0(tiny_model, tmp_path, capsys):
    """Interrupted before any checkpoint (the encoder and config.json are saved): the resumed
    run says so, trains from step 0, and is the uninterrupted run."""
    out, model = tiny_model
    early = _copy_model(out, tmp_path / "early")  # everything but the checkpoints
    capsys.readouterr()
    resumed = t2i.train(t2i.T2IConfig(**TINY), early, resume=True, verbose=1, checkpoint_every=6)
    assert (f"--resume: no checkpoint in {early / 'checkpoints'} yet; training starts from step 0"
            in capsys.readouterr().out)
    for a, b in zip(model.generator.get_weights(), resumed.generator.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("change, fields", [({"lr": 4e-4}, "lr"),
                                            ({"width": 16, "ema": 0.9}, "ema, width")])
def test_resuming_with_another_setting_is_a_one_line_error(tiny_model, tmp_path, change, fields):
    # the checkpoints hold the old run (its optimizers their rate, its weights their shapes),
    # so a changed setting would be ignored or fail deep in Keras: one line instead, and the
    # folder's record of the run is left as it was
    run = shutil.copytree(tiny_model[0], tmp_path / "run")
    before = (run / "config.json").read_text()
    with pytest.raises(ValueError) as err:
        t2i.train(t2i.T2IConfig(**{**TINY, **change}), run, resume=True, verbose=0)
    message = str(err.value)
    assert message.startswith(f"--resume: the run in {run} was started with other settings "
                              f"({fields}); a resumed run may change steps: ")
    assert "\n" not in message
    assert (run / "config.json").read_text() == before


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
                     "-o", str(png), "--model", "gan-labels", "--weights", str(out)]) == 0
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
        assert cli.main([*argv, "--model", "gan-labels"]) == 2
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


def test_build_gan_takes_the_ablations_d_and_optimizers():
    """Issue 11's options, as the benchmarks pass them: a spectrally normalised D
    (``build_discriminator(config, spectral_norm=True)``) and D's own learning rate."""
    import keras

    config = t2i.T2IConfig(**{**TINY, "steps": 1, "lr": 1e-4})
    plain = t2i.build_gan(config)
    sn = t2i.build_gan(config, D=t2i.build_discriminator(config, spectral_norm=True),
                       d_optimizer=keras.optimizers.Adam(4e-4, beta_1=0.0, beta_2=0.9))
    assert isinstance(plain, t2i.LabelGAN) and isinstance(sn, t2i.LabelGAN)
    assert len(sn.discriminator.weights) > len(plain.discriminator.weights)  # power-iteration vectors
    assert float(sn.d_optimizer.learning_rate) == pytest.approx(4e-4)
    assert float(sn.g_optimizer.learning_rate) == pytest.approx(1e-4)  # the config's, for G
    assert float(plain.d_optimizer.learning_rate) == float(plain.g_optimizer.learning_rate)
    assert float(plain.g_optimizer.beta_1) == 0.0 and float(plain.g_optimizer.beta_2) == 0.9


def test_build_gan_takes_a_subclass_with_a_term_of_ones_own():
    class Quieter(t2i.LabelGAN):  # a term of one's own, through the public hook
        def extra_g_loss(self, z, fake, fake_extras, cond, extra):
            return super().extra_g_loss(z, fake, fake_extras, cond, extra) + 0.0

    config = t2i.T2IConfig(**{**TINY, "steps": 1})
    assert type(t2i.build_gan(config, gan_class=Quieter)) is Quieter
    with pytest.raises(ValueError, match=r"gan_class must be a subclass of LabelGAN \(text_encoder='labels'\)"):
        t2i.build_gan(config, gan_class=t2i.CaptionGAN)
    with pytest.raises(ValueError, match="gan_class must be a subclass of LabelGAN"):
        t2i.build_gan(config, gan_class="Quieter")  # a name is not a class


def test_final_conv_and_d_stem_reach_the_models_and_old_configs_still_load():
    config = t2i.T2IConfig(**{**TINY, "final_conv": True, "d_stem": True})
    assert type(t2i.build_generator(config).get_layer("to_image")).__name__ == "Conv2D"
    assert t2i.build_gan(config).discriminator.get_layer("stem").output.shape[1] == 32
    assert t2i.T2IConfig.from_dict(config.to_dict()).final_conv is True
    old = {k: v for k, v in config.to_dict().items() if k not in ("final_conv", "d_stem")}
    assert t2i.T2IConfig.from_dict(old).final_conv is False and not t2i.T2IConfig.from_dict(old).d_stem
    assert type(t2i.build_generator(t2i.T2IConfig.from_dict(old)).get_layer("to_image")
                ).__name__ == "Conv2DTranspose"
