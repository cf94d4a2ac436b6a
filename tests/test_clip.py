"""The mini-CLIP and the label-free text-to-image GAN (Chapters 9 and 7): the loss against its closed
forms, what the shipped mini-CLIP reads, files and errors, and a GAN trained with no labels."""

import json
import math
import re
import shutil

import keras
import numpy as np
import pytest

from dalle_edu import api, clip, device, metrics, presets, t2i, text
from dalle_edu.checkpoint import WeightsError
from dalle_edu.data import shapes

SHIPPED_GAN = api.WEIGHTS_DIR / "gan_cpu"


# --- InfoNCE against what a student computes by hand -----------------------------------

def _ce_rows(logits):
    """Mean over rows of -log softmax(row)[i]: image i picking caption i among B."""
    z = logits - logits.max(1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(1, keepdims=True))
    return float(-np.mean(np.diag(log_p)))


def test_info_nce_is_zero_when_every_pair_is_certain():
    assert float(clip.info_nce(100.0 * np.eye(6, dtype="float32"))) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("b", [2, 5, 32])
def test_info_nce_of_a_constant_matrix_is_log_b(b):
    # every caption equally likely: each side's cross-entropy is -log(1/B) = log B
    assert float(clip.info_nce(np.full((b, b), 3.7, "float32"))) == pytest.approx(math.log(b), rel=1e-5)


def test_info_nce_is_the_mean_of_both_directions():
    logits = np.random.default_rng(0).normal(scale=3.0, size=(8, 8)).astype("float32")
    rows, cols = _ce_rows(logits), _ce_rows(logits.T)
    assert abs(rows - cols) > 0.1  # an asymmetric matrix: the two directions disagree...
    got = float(clip.info_nce(logits))
    assert got == pytest.approx(0.5 * (rows + cols), rel=1e-5)  # ...and the loss averages them
    assert got == pytest.approx(float(clip.info_nce(logits.T)), rel=1e-6)  # so it is symmetric


# --- the shipped mini-CLIP -----------------------------------------------------------

@pytest.fixture(scope="module")
def shipped():
    return api.load_clip()


def _meanings(captions):
    return [tuple(sorted(text.parse(c).items())) for c in captions]


@pytest.mark.parametrize("split, floor", [("test", 0.9), ("compositional", 0.85)])
def test_shipped_clip_retrieves_the_caption_of_a_render(shipped, split, floor):
    images, captions, _ = shapes.sample(300, split, seed=11)
    r = metrics.r_precision(shipped.encode_images(images), shipped.encode_text(captions),
                            groups=_meanings(captions))
    assert r >= floor  # chance is 1 / 100


def test_shipped_clip_reads_attributes_zero_shot(shipped):
    images, _, attrs = shapes.sample(300, "test", seed=12)
    reads = shipped.zero_shot(images)
    assert set(reads[0]) == set(shapes.KEYS)
    accuracy = {k: np.mean([r[k] == a[k] for r, a in zip(reads, attrs)]) for k in shapes.KEYS}
    assert accuracy["color"] >= 0.95, accuracy
    assert min(accuracy.values()) >= 0.9, accuracy  # chance is 1/8 .. 1/2


def _swap_colour(caption, colour):
    other = shapes.VALUES["color"][(shapes.VALUES["color"].index(colour) + 3) % 8]
    swapped = re.sub(rf"\b{colour}\b", other, caption)
    assert swapped != caption
    return swapped


def test_shipped_clip_scores_the_right_colour_higher(shipped):
    images, captions, attrs = shapes.sample(300, "test", seed=13)
    right = shipped.score(images, captions)
    wrong = shipped.score(images, [_swap_colour(c, a["color"]) for c, a in zip(captions, attrs)])
    assert right.shape == (300,) and right.min() >= 0 and right.max() <= 100
    assert np.mean(right > wrong) >= 0.95
    assert right.mean() - wrong.mean() > 15  # measured: about 90 against 55


def test_shipped_clip_is_small_and_sharp(shipped):
    size = sum(f.stat().st_size for f in api.DEFAULT_CLIP.iterdir())
    assert size <= 2 * 1024 * 1024
    assert 0.01 < shipped.temperature < 0.1  # learned, from CLIP's initial 0.07
    assert shipped.config == clip.ClipConfig()  # the shipped run is the default config


def test_uint8_and_float_images_give_the_same_embedding(shipped):
    images, _, _ = shapes.sample(4, "test", seed=14)
    a = shipped.encode_images(images)
    np.testing.assert_allclose(a, shipped.encode_images(images / 127.5 - 1.0), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)  # unit length


# --- the two text towers ------------------------------------------------------------------

def test_bag_of_words_ignores_word_order_and_attention_does_not():
    config = clip.ClipConfig.for_preset("smoke")
    a, b = "a big red circle at the top left", "at the top left a red big circle"
    device.set_seed(0)
    bow = clip.build_text_encoder(config)
    e = clip.embed_ids(bow, text.encode([a, b]))
    np.testing.assert_allclose(e[0], e[1], atol=1e-5)  # a sum of word vectors: order is lost
    attention = clip.build_text_encoder(clip.ClipConfig.for_preset("smoke", text="attention"))
    e = clip.embed_ids(attention, text.encode([a, b, a]))
    np.testing.assert_allclose(e[0], e[2], atol=1e-6)
    assert np.abs(e[0] - e[1]).max() > 1e-3  # learned positions: order matters
    assert e.shape == (3, config.embed_dim) and clip.embed_ids(bow, np.zeros((0, 16))).shape == (0, 64)


# --- training, files and errors ------------------------------------------------------

class _NoLabels:
    """Stands in for the world's attribute labels: reading it in any way fails the test."""

    def _read(self, *args, **kwargs):
        raise AssertionError("a label-free model read the attribute labels")

    __getitem__ = __iter__ = __len__ = __bool__ = _read


def _without_labels(mp):
    """Patch ``shapes.sample`` so everything but images and captions is ``_NoLabels``."""
    real = shapes.sample

    def sample(*args, **kwargs):
        out = real(*args, **kwargs)
        return (*out[:2], *(_NoLabels() for _ in out[2:]))

    mp.setattr(shapes, "sample", sample)


@pytest.fixture(scope="module")
def smoke_clip(tmp_path_factory):
    """A smoke-size mini-CLIP trained once, with the labels poisoned: it never reads them."""
    out = tmp_path_factory.mktemp("clip")
    with pytest.MonkeyPatch.context() as mp:
        _without_labels(mp)
        model = clip.train_clip(clip.ClipConfig.for_preset("smoke"), out, verbose=0)
    return out, model


def test_clip_data_has_images_and_captions_only():
    config = clip.ClipConfig.for_preset("smoke")
    data = clip.clip_data(config, n=8)
    assert len(data) == 3
    images, ids, captions = data
    assert images.shape == (8, 32, 32, 3) and images.dtype == np.float32
    assert -1.0 <= images.min() and images.max() <= 1.0
    assert len(captions) == 8 and all(isinstance(c, str) for c in captions)
    np.testing.assert_array_equal(ids, text.encode(captions))


def test_trained_clip_saves_and_loads_exactly(smoke_clip):
    out, model = smoke_clip
    assert sorted(p.name for p in out.iterdir()) == sorted(clip.FILES)
    assert model.temperature != pytest.approx(0.07, abs=1e-6)  # the temperature was learned
    images, captions, _ = shapes.sample(6, "test", seed=15)
    loaded = clip.MiniCLIP.load(out)
    assert loaded.config == model.config and loaded.temperature == pytest.approx(model.temperature)
    np.testing.assert_array_equal(loaded.encode_images(images), model.encode_images(images))
    np.testing.assert_array_equal(loaded.encode_text(captions), model.encode_text(captions))


def test_text_only_loads_without_the_image_tower(smoke_clip, tmp_path):
    out, model = smoke_clip
    folder = shutil.copytree(out, tmp_path / "text_only")
    (folder / "clip_image.weights.h5").unlink()
    prompts = ["a red circle", "a big blue square at the bottom"]
    np.testing.assert_array_equal(clip.MiniCLIP.load(folder, text_only=True).encode_text(prompts),
                                  model.encode_text(prompts))
    with pytest.raises(WeightsError, match="missing clip_image.weights.h5") as err:
        clip.MiniCLIP.load(folder)
    assert "\n" not in str(err.value)


def test_missing_and_corrupt_clip_folders_are_weights_errors(tmp_path):
    with pytest.raises(WeightsError, match="missing clip_config.json, clip_image.weights.h5, "
                                           "clip_text.weights.h5"):
        clip.MiniCLIP.load(tmp_path / "nothing")
    folder = clip.MiniCLIP(clip.ClipConfig.for_preset("smoke")).save(tmp_path / "c")
    (folder / "clip_config.json").write_text("{not json")
    with pytest.raises(WeightsError, match="corrupt mini-CLIP config"):
        clip.MiniCLIP.load(folder)
    (folder / "clip_config.json").write_text(json.dumps({"text": "lstm"}))
    with pytest.raises(WeightsError, match="corrupt mini-CLIP config"):
        clip.MiniCLIP.load(folder)


@pytest.mark.parametrize("change", [dict(text="bow"), dict(word_dim=32), dict(width=16)])
def test_weights_of_another_architecture_are_a_one_line_error(tmp_path, change):
    # an untrained mini-CLIP with an order-aware text tower, saved; then its config is edited
    folder = clip.MiniCLIP(clip.ClipConfig.for_preset("smoke", text="attention")).save(tmp_path / "c")
    config = json.loads((folder / "clip_config.json").read_text())
    (folder / "clip_config.json").write_text(json.dumps({**config, **change}))
    with pytest.raises(WeightsError, match="does not fit this architecture") as err:
        clip.MiniCLIP.load(folder)
    assert "\n" not in str(err.value)


def test_bad_input_is_a_clear_error(shipped):
    with pytest.raises(ValueError, match=r"images must be \(N, 32, 32, 3\).*got \(2, 16, 16, 3\)"):
        shipped.encode_images(np.zeros((2, 16, 16, 3), np.uint8))
    with pytest.raises(ValueError, match=r"uint8, or floats in \[-1, 1\]; got floats in \[0, 255\]"):
        shipped.encode_images(np.linspace(0, 255, 2 * 32 * 32 * 3).reshape(2, 32, 32, 3))
    images, _, _ = shapes.sample(3, "test")
    with pytest.raises(ValueError, match="3 images but 2 prompts"):
        shipped.score(images, ["a red circle", "a blue square"])
    with pytest.raises(ValueError, match="unknown word 'purple'"):
        shipped.encode_text(["a purple circle"])
    with pytest.raises(ValueError, match=r"^ClipConfig\.text must be one of 'bow', 'attention', got 'lstm'$"):
        clip.ClipConfig.from_dict({"text": "lstm"})
    with pytest.raises(ValueError, match="unknown ClipConfig keys: widht"):
        clip.ClipConfig.from_dict({"widht": 8})
    assert clip.ClipConfig.for_preset("smoke").to_dict() == {
        **clip.ClipConfig().to_dict(), **presets.MODELS["clip"]["smoke"]}


# --- the label-free GAN (model "gan") ---------------------------------------------------

TINY_GAN = dict(n_train=128, width=8, batch_size=16, latent_dim=16)  # on top of the smoke preset


def test_the_label_free_config_and_its_rules():
    config = t2i.T2IConfig.for_preset("smoke", model="gan")
    assert config.text_encoder == "clip" and config.aux_weight == 0
    assert config.contrastive_weight > 0
    assert config.to_dict() == {**t2i.T2IConfig().to_dict(), **presets.MODELS["gan"]["smoke"]}
    assert t2i.T2IConfig().cond_dim == t2i.COND_DIM
    assert t2i.T2IConfig.for_preset("smoke", model="gan", clip={"embed_dim": 48}).cond_dim == 48
    with pytest.raises(ValueError, match=r"^T2IConfig: text_encoder='clip' trains without labels, "
                                         r"so aux_weight \(which reads labels\) must be 0$"):
        t2i.T2IConfig.from_dict({"text_encoder": "clip", "aux_weight": 1.0})
    with pytest.raises(ValueError, match=r"^T2IConfig\.contrastive_weight needs text_encoder='clip'"):
        t2i.T2IConfig.from_dict({"contrastive_weight": 1.0})
    with pytest.raises(ValueError, match=r"^T2IConfig\.text_encoder must be one of 'labels', 'clip', "
                                         r"got 'bert'$"):
        t2i.T2IConfig.from_dict({"text_encoder": "bert"})
    with pytest.raises(ValueError, match="unknown T2IConfig keys: mode_seeking"):  # an ablation's, gone
        t2i.T2IConfig.from_dict({"text_encoder": "clip", "aux_weight": 0.0, "mode_seeking": 1.0})


def test_label_free_batches_hold_caption_embeddings_only(shipped, monkeypatch):
    _without_labels(monkeypatch)  # make_dataset reads no label either
    config = t2i.T2IConfig.for_preset("smoke", model="gan", **TINY_GAN, clip=shipped.config.to_dict())
    ds = t2i.make_dataset(config, shipped.text_encoder)
    x, y = next(iter(ds))
    assert x.shape == (16, 32, 32, 3) and -1.0 <= float(x.numpy().min()) <= float(x.numpy().max()) <= 1.0
    assert not isinstance(y, (tuple, list)) and y.dtype == "float32" and y.shape == (16, config.cond_dim)
    np.testing.assert_allclose(np.linalg.norm(y.numpy(), axis=1), 1.0, atol=1e-5)  # CLIP text vectors


def _eagerly(mp):
    """Train the GAN eagerly: for a few steps, tracing the step costs more than it saves."""
    build = t2i.training.build_gan

    def build_eager(*args, **kwargs):
        gan = build(*args, **kwargs)
        gan.run_eagerly = True
        return gan

    mp.setattr(t2i.training, "build_gan", build_eager)


@pytest.fixture(scope="module")
def tiny_gan(tmp_path_factory):
    """A label-free GAN trained once (2 steps) on the shipped mini-CLIP's text, labels poisoned."""
    out = tmp_path_factory.mktemp("gan")
    config = t2i.T2IConfig.for_preset("smoke", model="gan", steps=2, **TINY_GAN)
    with pytest.MonkeyPatch.context() as mp:
        _without_labels(mp)
        _eagerly(mp)
        model = t2i.train(config, out, verbose=0, checkpoint_every=1, clip=api.DEFAULT_CLIP)
    return out, model


def test_label_free_gan_is_conditioned_on_the_clip_text_tower(tiny_gan, shipped):
    out, model = tiny_gan
    saved = json.loads((out / "config.json").read_text())
    assert saved["clip"] == shipped.config.to_dict()  # the mini-CLIP it was given, not the preset's
    prompts = ["a big red circle at the top left", "a blue square"]
    # the condition is the frozen mini-CLIP's text embedding, unchanged by training
    np.testing.assert_allclose(model.conditions(prompts), shipped.encode_text(prompts), atol=1e-6)


def test_label_free_gan_generates_saves_and_loads(tiny_gan):
    out, model = tiny_gan
    prompts = ["a big red circle at the top left", "a blue circle"]
    a = model.generate(prompts, seed=0)
    assert a.shape == (2, 32, 32, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, model.generate(prompts, seed=0))
    assert not np.array_equal(a, model.generate(prompts, seed=1))
    assert model.generate(prompts, seed=0, n_per_prompt=3).shape == (6, 32, 32, 3)
    loaded = t2i.TextToImage.load(out)
    assert loaded.config.text_encoder == "clip"
    np.testing.assert_array_equal(a, loaded.generate(prompts, seed=0))
    np.testing.assert_array_equal(a, api.generate(prompts, seed=0, model="gan", weights=out))


def test_label_free_gan_resumes_exactly(tiny_gan, tmp_path, monkeypatch):
    out, model = tiny_gan
    _eagerly(monkeypatch)
    killed = shutil.copytree(out, tmp_path / "killed")  # the same run, "killed" after step 1:
    (killed / "checkpoints" / "ckpt-00000002.npz").unlink()  # its last checkpoint is step 1
    assert [p.name for p in (killed / "checkpoints").glob("ckpt-*.npz")] == ["ckpt-00000001.npz"]
    full = t2i.T2IConfig.for_preset("smoke", model="gan", steps=2, **TINY_GAN)
    steps = []
    counter = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: steps.append(batch))
    resumed = t2i.train(full, killed, resume=True, verbose=0, checkpoint_every=1, callbacks=[counter])
    assert len(steps) == 1  # it went on from step 1, not from the start
    assert resumed.config.clip == model.config.clip  # the mini-CLIP the checkpoints were made with
    for w_full, w_resumed in zip(model.generator.get_weights(), resumed.generator.get_weights()):
        np.testing.assert_array_equal(w_full, w_resumed)


def test_label_free_gan_resumed_before_its_first_checkpoint_is_the_uninterrupted_run(tiny_gan, tmp_path,
                                                                                     monkeypatch):
    out, model = tiny_gan
    _eagerly(monkeypatch)
    early = shutil.copytree(out, tmp_path / "early", ignore=shutil.ignore_patterns("checkpoints"))
    full = t2i.T2IConfig.for_preset("smoke", model="gan", steps=2, **TINY_GAN)
    resumed = t2i.train(full, early, resume=True, verbose=0, checkpoint_every=1)  # from step 0
    for w_full, w_resumed in zip(model.generator.get_weights(), resumed.generator.get_weights()):
        np.testing.assert_array_equal(w_full, w_resumed)


def test_label_free_model_of_another_architecture_is_a_weights_error(tiny_gan, tmp_path):
    out, _ = tiny_gan
    other = shutil.copytree(out, tmp_path / "other", ignore=shutil.ignore_patterns("checkpoints"))
    config = json.loads((other / "config.json").read_text())
    config["clip"]["word_dim"] *= 2  # a text tower of another width than the saved one
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(t2i.WeightsError, match="text_encoder.weights.h5 does not fit"):
        t2i.TextToImage.load(other)


def _one_step(shipped, **weights):
    """A fresh tiny label-free GAN (same init every call) after one eager training step."""
    config = t2i.T2IConfig.for_preset("smoke", model="gan", steps=1, **TINY_GAN,
                                      clip=shipped.config.to_dict())
    device.set_seed(0)
    gan = t2i.build_gan(config)
    assert isinstance(gan, t2i.CaptionGAN)
    for name, value in weights.items():  # same architecture, a term switched off
        setattr(gan, name, value)
    gan.run_eagerly = True  # one step: tracing would cost more than it saves
    gan.fit(t2i.make_dataset(config, shipped.text_encoder), epochs=1, steps_per_epoch=1,
            verbose=0)  # the dataset is endless
    return config, gan


@pytest.mark.filterwarnings("ignore:Gradients do not exist")  # the head, with its term off
def test_the_contrastive_terms_run_and_change_the_discriminator(shipped, monkeypatch):
    calls = []
    real = t2i.gan.CaptionGAN.contrastive
    monkeypatch.setattr(t2i.gan.CaptionGAN, "contrastive",
                        lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    config, with_terms = _one_step(shipped)
    assert config.n_critic == 1  # one D update: D's term on the real images, G's on the fakes
    assert len(calls) == 2
    calls.clear()
    _, without = _one_step(shipped, contrastive_weight=0.0)
    assert calls == []
    d_with, d_without = with_terms.discriminator.get_weights(), without.discriminator.get_weights()
    assert len(d_with) == len(d_without)
    changed = [not np.array_equal(a, b) for a, b in zip(d_with, d_without)]
    assert sum(changed) > len(changed) // 2  # the trunk moved, not only the embedding head


# --- the shipped label-free model -------------------------------------------------------

@pytest.fixture(scope="module")
def shipped_gan():
    if not SHIPPED_GAN.is_dir():
        pytest.skip(f"{SHIPPED_GAN} is not trained yet")
    return api.load_model("gan")


def test_shipped_gan_is_label_free_and_reads_the_shipped_clip(shipped_gan, shipped):
    c = shipped_gan.config
    assert c.text_encoder == "clip" and c.aux_weight == 0
    assert c.clip == shipped.config.to_dict()
    prompts = ["a big red circle at the top left", "a green triangle"]
    np.testing.assert_allclose(shipped_gan.conditions(prompts), shipped.encode_text(prompts), atol=1e-5)


def test_shipped_gan_generates_deterministically(shipped_gan):
    prompts = ["a big red circle at the top left", "a blue circle"]
    images = api.generate(prompts, seed=0, n_per_prompt=2, model="gan")
    assert images.shape == (4, 32, 32, 3) and images.dtype == np.uint8
    np.testing.assert_array_equal(images, api.generate(prompts, seed=0, n_per_prompt=2, model="gan"))
    assert not np.array_equal(images, api.generate(prompts, seed=1, n_per_prompt=2, model="gan"))
