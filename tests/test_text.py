"""Vocabulary, tokenizer and parser: parsing inverts captioning; bad prompts fail clearly."""

import numpy as np
import pytest

from dalle_edu import text
from dalle_edu.data import shapes
from dalle_edu.text import parse

ALL_ATTRS = shapes.all_combinations("train") + shapes.all_combinations("compositional")
# one attribute set per position cell (corners, edges, centre), every shape, size, colour
NINE_CELLS = [dict(color=c, shape=s, size=z, vpos=v, hpos=h) for (c, s, z), (v, h) in zip(
    [("orange", "circle", "big"), ("red", "square", "small"), ("white", "triangle", "big"),
     ("blue", "diamond", "small"), ("cyan", "circle", "small"), ("green", "triangle", "small"),
     ("yellow", "diamond", "big"), ("magenta", "square", "big"), ("orange", "diamond", "small")],
    [(v, h) for v in shapes.VPOS for h in shapes.HPOS])]
KEY_SETS = [shapes.KEYS, ("color", "shape"), ("color", "shape", "size"),
            ("color", "shape", "vpos", "hpos")]


def test_spec_example():
    assert parse("a large red circle in the upper left corner") == {
        "color": "red", "shape": "circle", "size": "big", "vpos": "top", "hpos": "left"}
    assert parse("a blue circle") == {"color": "blue", "shape": "circle"}


def test_parse_inverts_the_canonical_caption_for_every_combination():
    assert len(ALL_ATTRS) == 576
    for a in ALL_ATTRS:
        assert parse(shapes.caption(a)) == a
        for keys in KEY_SETS[1:]:
            part = {k: a[k] for k in keys}
            assert parse(shapes.caption(part)) == part


def test_parse_inverts_random_paraphrases_for_every_combination_and_key_set():
    rng = np.random.default_rng(0)
    for a in ALL_ATTRS:
        for keys in KEY_SETS:
            for _ in range(2):
                assert parse(shapes.paraphrase(a, rng, keys=keys)) == {k: a[k] for k in keys}


@pytest.mark.parametrize("keys", KEY_SETS)
def test_parse_inverts_every_template_and_synonym(keys):
    attrs = NINE_CELLS
    templates_seen = set()
    for a in attrs:
        captions = shapes.all_paraphrases(a, keys=keys)
        for c in captions:
            assert parse(c) == {k: a[k] for k in keys}, c
            assert len(text.tokenize(c)) <= text.MAX_TOKENS
        templates_seen |= {c.split()[0] for c in captions}
    assert len(templates_seen) >= 5


def test_vocabulary_is_the_words_captions_use():
    used = set()
    for a in NINE_CELLS:
        for keys in KEY_SETS[:2]:
            for c in shapes.all_paraphrases(a, keys=keys):
                used |= set(text.tokenize(c))
    synonyms = {w for table in shapes.SYNONYMS.values() for ws in table.values() for w in ws}
    assert used <= set(text.WORDS)                    # every caption word is known
    assert set(text.WORDS) <= used | synonyms         # and nothing else is (no hand list)
    for w in ("a", "an", "the", "at", "in", "on", "of", "corner"):
        assert w in text.STOPWORDS


def test_tokenize_is_case_and_punctuation_tolerant():
    assert text.tokenize("A large RED circle, upper-left!") == ["a", "large", "red", "circle",
                                                                "upper", "left"]
    assert parse("  RED   Circle;;; TOP-left ") == parse("red circle at the top left")
    with pytest.raises(TypeError):
        text.tokenize(3)


def test_encode_decode_round_trip():
    ids = text.encode("a red circle", max_len=8)
    assert ids.dtype == np.int32 and ids.shape == (8,)
    assert ids[3:].tolist() == [0] * 5 and ids[:3].min() > 1
    assert text.decode(ids) == "a red circle"
    assert text.encode("a zebra circle", 4)[1] == text.UNK
    assert text.decode(text.encode("a zebra circle", 4)) == "a <unk> circle"
    batch = text.encode(["a red circle", "Big blue square, at the top left"])
    assert batch.shape == (2, text.MAX_TOKENS)
    assert text.decode(batch) == ["a red circle", "big blue square at the top left"]
    vocab = text.Vocabulary()
    assert len(vocab) == len(text.WORDS) + 2 and vocab.tokens[:2] == ("<pad>", "<unk>")
    with pytest.raises(ValueError, match="at most 2 fit"):
        text.encode("a red circle", max_len=2)


def test_middle_and_center_fill_the_axis_not_named():
    c = {"shape": "circle"}
    assert parse("a circle in the center") == dict(c, vpos="middle", hpos="center")
    assert parse("a circle in the middle") == dict(c, vpos="middle", hpos="center")
    assert parse("a circle at the middle left") == dict(c, vpos="middle", hpos="left")
    assert parse("a circle at the top center") == dict(c, vpos="top", hpos="center")
    assert parse("a circle at the top") == dict(c, vpos="top")
    assert parse("a circle on the right") == dict(c, hpos="right")


def test_empty_prompt():
    for p in ("", "   ", "?!,"):
        with pytest.raises(ValueError, match="empty prompt"):
            parse(p)


def test_too_long_prompt():
    with pytest.raises(ValueError, match=r"too long: 20 words, at most 16"):
        parse("a " * 19 + "circle")


def test_unknown_word_names_it_and_suggests():
    with pytest.raises(ValueError, match=r"unknown word 'cirle'.*did you mean 'circle'"):
        parse("a red cirle")
    with pytest.raises(ValueError, match=r"unknown word 'purple'.*colours are: red, green") as err:
        parse("a purple square")
    assert "picture" not in str(err.value)  # a colour is answered with colours, not look-alikes
    with pytest.raises(ValueError, match=r"no 'oval'; its shapes are: circle, square"):
        parse("a red oval")
    with pytest.raises(ValueError, match=r"unknown word 'squares'.*'square'"):
        parse("a red squares")


@pytest.mark.parametrize("prompt, words", [
    ("a red blue circle", r"two colours, 'red' and 'blue'"),
    ("a circle at the top bottom", r"two vertical positions, 'top' and 'bottom'"),
    ("a big small square", r"two sizes, 'big' and 'small'"),
    ("a large tiny square", r"two sizes, 'large' and 'tiny'"),
    ("a circle square", r"two shapes, 'circle' and 'square'"),
    ("a circle on the left right", r"two horizontal positions, 'left' and 'right'"),
    ("a circle at the top left center", r"'center' conflicts with 'top left'"),
])
def test_contradictions(prompt, words):
    with pytest.raises(ValueError, match="contradictory prompt.*" + words):
        parse(prompt)


def test_synonyms_are_not_contradictions():
    assert parse("a big large red red circle") == {"color": "red", "shape": "circle", "size": "big"}


def test_no_shape():
    with pytest.raises(ValueError, match=r"names no shape; add one of: circle, square, triangle"):
        parse("big red, at the top left")
