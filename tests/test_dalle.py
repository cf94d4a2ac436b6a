"""The token model "dalle" (Chapters 11-12): config, training, determinism, files, exact resume, errors."""

import json
import shutil

import numpy as np
import pytest
from helpers import Interrupt

from dalle_edu import api, cli, presets, t2i, text
from dalle_edu.checkpoint import WeightsError

TINY = dict(n_train=256, steps=12, width=16, depth=1, heads=2, batch_size=8, warmup=2,
            tokenizer=dict(n_train=256, steps=6, codebook_size=16, width=8, batch_size=16))
PROMPTS = ["a big red circle at the top left", "a blue square"]


def test_config_by_preset_and_unknown_keys():
    for name in ("smoke", "cpu", "gpu"):
        c = t2i.DalleConfig.for_preset(name)
        assert c.to_dict() == {**t2i.DalleConfig().to_dict(), **presets.MODELS["dalle"][name]}
        tc = c.transformer_config(c.vq_config().codebook_size)
        assert tc.image_len == c.tokens_per_side ** 2 and tc.text_len == text.MAX_TOKENS
    gpu = t2i.DalleConfig.for_preset("gpu")
    assert (gpu.image_size, gpu.tokens_per_side) == (64, 16)  # the 16x16 tokens at 64x64
    assert gpu.vq_config().image_size == 64
    with pytest.raises(ValueError, match="unknown DalleConfig keys: widht"):
        t2i.DalleConfig.from_dict({"widht": 3})
    with pytest.raises(ValueError, match="unknown VQConfig keys: stpes"):
        t2i.DalleConfig(tokenizer={"stpes": 3})  # caught now, not after minutes of training
    for bad, message in (
            ({"temperature": 0}, "DalleConfig.temperature must be a number > 0, got 0"),
            ({"top_k": 0}, "DalleConfig.top_k must be an integer > 0 (or null), got 0"),
            ({"partial": 2}, "DalleConfig.partial must be a number in [0, 1], got 2"),
            ({"steps": "abc"}, "DalleConfig.steps must be an integer > 0, got 'abc'")):
        with pytest.raises(ValueError) as err:
            t2i.DalleConfig(**bad)
        assert str(err.value).startswith(message) and "\n" not in str(err.value)
    assert t2i.DalleConfig(top_k=None).top_k is None  # no top-k: sample the whole codebook


def test_sequences_are_caption_ids_then_image_ids():
    config = t2i.DalleConfig(**TINY)
    tok = t2i.dalle_training.VQVAE(config.vq_config())
    seqs = t2i.make_sequences(config, tok)
    V = len(text.VOCAB)
    assert seqs.shape == (256, text.MAX_TOKENS + 64) and seqs.dtype == np.int32
    assert seqs[:, :text.MAX_TOKENS].max() < V and seqs[:, text.MAX_TOKENS:].min() >= V
    assert seqs[:, text.MAX_TOKENS:].max() < V + 16
    np.testing.assert_array_equal(seqs, t2i.make_sequences(config, tok))  # seeded


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("dalle")
    model = t2i.train_dalle(t2i.DalleConfig(**TINY), out, verbose=0, checkpoint_every=6)
    return out, model


def test_generate_shape_dtype_determinism_and_files(tiny):
    out, model = tiny
    a = model.generate(PROMPTS, seed=0)
    assert a.shape == (2, 32, 32, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, model.generate(PROMPTS, seed=0))
    assert not np.array_equal(a, model.generate(PROMPTS, seed=1))
    assert model.generate(PROMPTS, seed=0, n_per_prompt=3).shape == (6, 32, 32, 3)
    assert model.codes(PROMPTS, seed=0).shape == (2, 8, 8)
    loaded = t2i.Dalle.load(out)
    np.testing.assert_array_equal(a, loaded.generate(PROMPTS, seed=0))  # saved == trained
    # weights only: the optimizer's moments (twice the weights again) stay in the checkpoints
    weights_bytes = 4 * model.transformer.count_params()
    assert (out / "transformer.weights.h5").stat().st_size < 1.5 * weights_bytes + 100_000
    # through the top floor: generate(model="dalle", weights=...) and reranking
    np.testing.assert_array_equal(a, api.generate(PROMPTS, seed=0, model="dalle", weights=out))
    assert api.generate(PROMPTS, model="dalle", weights=out, rerank=2).shape == (2, 32, 32, 3)


def test_large_batches_are_drawn_in_pieces_deterministically(tiny):
    _, model = tiny
    a = model.codes(PROMPTS * 3, seed=4, batch_size=4)  # pieces of 4 and 2
    assert a.shape == (6, 8, 8)
    np.testing.assert_array_equal(a, model.codes(PROMPTS * 3, seed=4, batch_size=4))
    np.testing.assert_array_equal(a[:4], model.codes(PROMPTS * 2, seed=4, batch_size=4))
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        model.codes(PROMPTS, batch_size=0)


def test_greedy_sampling_is_the_same_for_every_seed(tiny):
    _, model = tiny
    np.testing.assert_array_equal(model.codes(PROMPTS, seed=0, top_k=1), model.codes(PROMPTS, seed=5, top_k=1))


@pytest.mark.parametrize("kwargs, message", [
    (dict(temperature=0), "temperature must be a number > 0"),
    (dict(temperature=-1.0), "temperature must be a number > 0"),
    (dict(top_k=0), "top_k must be an integer >= 1"),
    (dict(top_k=17), "top_k must be at most the codebook size 16"),
    (dict(seed=-1), "seed must be a non-negative integer"),
    (dict(n_per_prompt=0), "n_per_prompt must be an integer >= 1"),
])
def test_bad_sampling_arguments_are_one_line_errors(tiny, kwargs, message):
    with pytest.raises(ValueError, match=message) as err:
        tiny[1].generate(PROMPTS, **kwargs)
    assert "\n" not in str(err.value)


def test_a_prompt_longer_than_the_text_context_names_the_limit(tiny):
    long = " ".join(["a big red circle"] * 5)  # 20 words
    with pytest.raises(ValueError, match=f"prompt too long: 20 words, at most {text.MAX_TOKENS}") as err:
        tiny[1].generate([long])
    assert "\n" not in str(err.value)


def test_weights_of_another_architecture_or_missing_files_are_one_line_errors(tiny, tmp_path):
    out, _ = tiny
    with pytest.raises(WeightsError, match="no trained token model .* missing"):
        t2i.Dalle.load(tmp_path / "nothing")
    other = tmp_path / "other"
    shutil.copytree(out, other, ignore=shutil.ignore_patterns("checkpoints"))
    cfg = json.loads((other / "dalle_config.json").read_text())
    (other / "dalle_config.json").write_text(json.dumps({**cfg, "width": 32}))
    with pytest.raises(WeightsError, match="does not fit this architecture") as err:
        t2i.Dalle.load(other)
    assert "\n" not in str(err.value)
    (other / "dalle_config.json").write_text("{not json")
    with pytest.raises(WeightsError, match="corrupt config"):
        t2i.Dalle.load(other)
    with pytest.raises(WeightsError):  # a GAN folder is not a token model, and the reverse
        t2i.Dalle.load(api.WEIGHTS_DIR / "gan_cpu")
    with pytest.raises(WeightsError):
        t2i.TextToImage.load(out)


def test_an_interrupted_run_resumes_exactly(tiny, tmp_path):
    _, full = tiny
    with pytest.raises(KeyboardInterrupt):
        t2i.train_dalle(t2i.DalleConfig(**TINY), tmp_path, verbose=0, checkpoint_every=6,
                        callbacks=[Interrupt(6)])
    assert not (tmp_path / "transformer.weights.h5").exists()  # nothing half-saved as the model
    resumed = t2i.train_dalle(t2i.DalleConfig(**TINY), tmp_path, resume=True, verbose=0,
                              checkpoint_every=6)
    assert int(resumed.transformer.step.numpy()) == TINY["steps"]
    for a, b in zip(full.transformer.get_weights(), resumed.transformer.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(full.generate(PROMPTS, seed=2), resumed.generate(PROMPTS, seed=2))


def test_an_interrupted_run_resumes_from_step_0_before_its_first_checkpoint(tiny, tmp_path, capsys):
    """Stopped after the tokenizer was saved but before any transformer checkpoint: the
    resumed run says so, loads the tokenizer, and trains from step 0 to the same weights."""
    _, full = tiny
    with pytest.raises(KeyboardInterrupt):
        t2i.train_dalle(t2i.DalleConfig(**TINY), tmp_path, verbose=0, checkpoint_every=6,
                        callbacks=[Interrupt(3)])
    assert not list((tmp_path / "checkpoints").glob("ckpt-*.npz"))
    capsys.readouterr()
    resumed = t2i.train_dalle(t2i.DalleConfig(**TINY), tmp_path, resume=True, verbose=1,
                              checkpoint_every=6)
    said = capsys.readouterr().out
    assert f"--resume: no checkpoint in {tmp_path / 'checkpoints'} yet; training starts from step 0" in said
    assert "stage 1" not in said  # the saved tokenizer, not a new one
    for a, b in zip(full.transformer.get_weights(), resumed.transformer.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("change, fields", [({"lr": 0.1}, "lr"), ({"steps": 24}, "steps"),
                                            ({"width": 32, "warmup": 3}, "warmup, width")])
def test_resume_needs_a_run_with_the_same_settings(tiny, tmp_path, change, fields):
    """DalleConfig.RESUMABLE is empty: the cosine schedule is tied to steps, so not even
    steps may change (a T2IConfig at its constant rate may)."""
    out, _ = tiny
    with pytest.raises(ValueError, match="nothing to resume"):
        t2i.train_dalle(t2i.DalleConfig(**TINY), tmp_path / "empty", resume=True, verbose=0)
    before = (out / "dalle_config.json").read_text()
    with pytest.raises(ValueError) as err:
        t2i.train_dalle(t2i.DalleConfig(**{**TINY, **change}), out, resume=True, verbose=0)
    message = str(err.value)
    assert message.startswith(f"--resume: the run in {out} was started with other settings "
                              f"({fields}); a resumed run may change nothing: ")
    assert "\n" not in message and (out / "dalle_config.json").read_text() == before


def test_command_line_trains_and_generates_with_the_token_model(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", "--model", "dalle", "--preset", "smoke", "--out", str(out)]) == 0
    assert "saved the model" in capsys.readouterr().out
    png = tmp_path / "g.png"
    assert cli.main(["generate", "a red circle", "--model", "dalle", "--weights", str(out),
                     "-n", "2", "-o", str(png)]) == 0
    assert png.is_file()
    assert cli.main(["generate", "a red circle", "--model", "dalle", "--weights", str(out),
                     "-o", str(png), "--seed", "-3"]) == 2
    assert "seed must be a non-negative integer" in capsys.readouterr().err


def test_gpu_preset_is_64x64_with_16x16_tokens_and_takes_steps(tmp_path):
    """The gpu preset's sizes (64x64 images, 16x16 = 256 codes, a wider, deeper transformer)
    build, train two steps and draw, on any machine."""
    config = t2i.DalleConfig.for_preset(
        "gpu", n_train=64, steps=2, batch_size=4, warmup=0,
        tokenizer={**presets.MODELS["dalle"]["gpu"]["tokenizer"], "n_train": 64, "steps": 2,
                   "batch_size": 4})
    model = t2i.train_dalle(config, tmp_path, verbose=0)
    assert model.transformer.config.context == text.MAX_TOKENS + 256
    assert model.codes(["a white diamond"], seed=0).shape == (1, 16, 16)
    assert model.generate(["a white diamond"], seed=0).shape == (1, 64, 64, 3)


def test_a_tokenizer_of_another_size_is_a_one_line_error(tiny, tmp_path):
    _, model = tiny
    gpu = t2i.DalleConfig.for_preset("gpu")  # 64x64 -> 16x16; the tiny tokenizer is 32x32 -> 8x8
    with pytest.raises(ValueError, match="the tokenizer turns 32x32 images into 8x8 codes") as err:
        t2i.train_dalle(gpu, tmp_path, verbose=0, tokenizer=model.tokenizer)
    assert "\n" not in str(err.value)
