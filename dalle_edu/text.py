"""Words in, numbers out: vocabulary, tokenizer and prompt parsing — Chapter 6. Numpy only.

The vocabulary is not a hand-written list: it is every word the shapes world's caption
templates and synonym tables (``dalle_edu.data.shapes``) can produce, so a caption can
always be encoded and parsed::

    tokenize("A large RED circle, upper-left!")  # ['a', 'large', 'red', 'circle', 'upper', 'left']
    encode("a red circle", max_len=8)            # array([ 2, 32, 10,  0,  0,  0,  0,  0], int32)
    parse("a large red circle in the upper left corner")
    # {'color': 'red', 'shape': 'circle', 'size': 'big', 'vpos': 'top', 'hpos': 'left'}

``parse`` returns only the keys a prompt names and raises ``ValueError`` for a bad
prompt: empty, longer than ``MAX_TOKENS`` words, an unknown word (the message suggests
the closest known words), a contradiction ("a red blue circle", "top bottom", "big
small") or no shape.

"middle", "center" and "centre" can mean either axis. They fill whichever axis the
prompt does not name with a word of its own: "in the center" / "in the middle" alone
is the middle-center cell, "middle left" is vpos middle, "top center" is hpos center.
With both axes already named ("top left center") they are a contradiction.
"""

from __future__ import annotations

import difflib
import re
from typing import NamedTuple

import numpy as np

from dalle_edu.data import shapes

MAX_TOKENS = 16  # longest prompt parse() and encode() accept; every caption is <= 13 words
PAD, UNK = 0, 1
PAD_TOKEN, UNK_TOKEN = "<pad>", "<unk>"
# words that may name either the vertical or the horizontal middle
AMBIGUOUS = frozenset(shapes.SYNONYMS["vpos"]["middle"]) & frozenset(shapes.SYNONYMS["hpos"]["center"])
_KEY_NAMES = {"color": "colours", "shape": "shapes", "size": "sizes",
              "vpos": "vertical positions", "hpos": "horizontal positions"}


def _template_words(text: str) -> set[str]:
    """Literal words of a template: everything outside {slots}."""
    return set(tokenize(re.sub(r"\{[a-z]+\}", " ", text)))


def _build_tables():
    meanings: dict[str, list[tuple[str, str]]] = {}  # word -> [(key, value), ...]
    for key, table in shapes.SYNONYMS.items():
        for value, words in table.items():
            for w in words:
                meanings.setdefault(w, []).append((key, value))
    fillers = set(shapes.ARTICLES) | set(shapes.PICTURE_WORDS)
    for text in (shapes.TEMPLATES + shapes.POSITION_PHRASES + shapes.CORNER_PHRASES
                 + shapes.SHORT_POSITIONS + shapes.SHORT_CORNERS
                 + shapes.CENTER_PHRASES + shapes.CENTER_SHORT):
        fillers |= _template_words(text)
    fillers -= set(meanings)  # "center" in CENTER_PHRASES is a position word, not filler
    return meanings, frozenset(fillers)


def tokenize(prompt: str) -> list[str]:
    """Lower-case words: punctuation and case do not matter ("Upper-left!" -> upper, left)."""
    if not isinstance(prompt, str):
        raise TypeError(f"a prompt must be a str, got {type(prompt).__name__}")
    return re.findall(r"[a-z0-9]+", prompt.lower())


MEANINGS, STOPWORDS = _build_tables()
WORDS = tuple(sorted(set(MEANINGS) | STOPWORDS))  # every known word


class Vocabulary:
    """Word <-> id. Id 0 is padding, 1 an unknown word, then the known words sorted."""

    def __init__(self, words=WORDS, max_len: int = MAX_TOKENS):
        self.tokens = (PAD_TOKEN, UNK_TOKEN) + tuple(sorted(set(words)))
        self.index = {w: i for i, w in enumerate(self.tokens)}
        self.max_len = int(max_len)

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def size(self) -> int:
        return len(self.tokens)

    def encode(self, prompt, max_len: int | None = None) -> np.ndarray:
        """Prompt -> int32 ids (max_len,) padded with 0; unknown words -> 1.

        A list of prompts gives (n, max_len). A prompt longer than ``max_len`` words raises
        ``ValueError`` (no silent truncation).
        """
        max_len = self.max_len if max_len is None else int(max_len)
        if not isinstance(prompt, str):
            prompts = list(prompt)
            out = np.zeros((len(prompts), max_len), np.int32)
            for i, p in enumerate(prompts):
                out[i] = self.encode(p, max_len)
            return out
        words = tokenize(prompt)
        if len(words) > max_len:
            raise ValueError(f"prompt {prompt!r} has {len(words)} words; at most {max_len} fit")
        ids = np.zeros(max_len, np.int32)
        ids[: len(words)] = [self.index.get(w, UNK) for w in words]
        return ids

    def decode(self, ids) -> str:
        """Ids -> words joined by spaces, padding dropped (unknown shows as <unk>)."""
        ids = np.asarray(ids)
        if ids.ndim > 1:
            return [self.decode(row) for row in ids]
        return " ".join(self.tokens[int(i)] for i in ids if int(i) != PAD)


VOCAB = Vocabulary()


def encode(prompt, max_len: int = MAX_TOKENS) -> np.ndarray:
    """``VOCAB.encode``: prompt (or list of prompts) -> padded int32 ids."""
    return VOCAB.encode(prompt, max_len)


def decode(ids) -> str:
    """``VOCAB.decode``: ids -> prompt text."""
    return VOCAB.decode(ids)


# Common words of each kind that the shapes world does not know: an unknown word of a
# known kind is answered with that kind's words ("purple" -> the colours), not with
# whatever is spelt alike ("purple" is close to "picture").
OTHER_WORDS = {
    "color": ("purple", "pink", "brown", "black", "grey", "gray", "violet", "indigo", "teal",
              "gold", "golden", "silver", "beige", "maroon", "navy", "lime", "turquoise"),
    "shape": ("rectangle", "oval", "ellipse", "star", "hexagon", "pentagon", "heart", "line",
              "dot", "box", "ball", "sphere", "cube", "cross", "ring", "polygon"),
    "size": ("huge", "medium", "giant", "enormous", "miniature", "massive", "mid", "average"),
}


def _closest(word: str) -> str:
    for key, others in OTHER_WORDS.items():
        if word in others:
            return (f"the shapes world has no {word!r}; its {_KEY_NAMES[key]} are: "
                    + ", ".join(shapes.VALUES[key]))
    close = difflib.get_close_matches(word, WORDS, n=3, cutoff=0.6)
    if close:
        return "did you mean " + " or ".join(repr(c) for c in close) + "?"
    return "known words include " + ", ".join(
        w for k in ("color", "shape", "size") for w in shapes.VALUES[k]) + ", top, left, ..."


def parse(prompt: str) -> dict:
    """Prompt -> the attributes it names, canonical values, keys in ``shapes.KEYS`` order.

    The inverse of captioning: ``parse(shapes.caption(a)) == a`` and a paraphrase parses
    to the keys it mentions. Raises ``ValueError`` for a bad prompt (see module doc).
    """
    words = tokenize(prompt)
    if not words:
        raise ValueError(
            f"empty prompt {prompt!r}: describe a shape, e.g. 'a big red circle at the top left'")
    if len(words) > MAX_TOKENS:
        raise ValueError(f"prompt too long: {len(words)} words, at most {MAX_TOKENS}; "
                         "keep to colour, shape, size and position")
    for w in words:
        if w not in MEANINGS and w not in STOPWORDS:
            raise ValueError(f"unknown word {w!r} in prompt {prompt!r}; {_closest(w)}")

    found: dict[str, dict[str, str]] = {k: {} for k in shapes.KEYS}  # key -> value -> word
    ambiguous = []
    for w in words:
        if w in AMBIGUOUS:
            ambiguous.append(w)
        elif w in MEANINGS:
            for key, value in MEANINGS[w]:
                found[key].setdefault(value, w)
    for key, values in found.items():
        if len(values) > 1:
            said = " and ".join(repr(w) for w in values.values())
            raise ValueError(f"contradictory prompt {prompt!r}: it names two "
                             f"{_KEY_NAMES[key]}, {said}; keep one")
    if ambiguous:
        if found["vpos"] and found["hpos"]:
            named = " ".join(next(iter(found[k].values())) for k in ("vpos", "hpos"))
            raise ValueError(f"contradictory prompt {prompt!r}: {ambiguous[0]!r} conflicts "
                             f"with {named!r}, which already names both axes")
        found["vpos"].setdefault("middle", ambiguous[0])
        found["hpos"].setdefault("center", ambiguous[0])
    if not found["shape"]:
        raise ValueError(f"prompt {prompt!r} names no shape; add one of: "
                         + ", ".join(shapes.SHAPES))
    return {k: next(iter(found[k])) for k in shapes.KEYS if found[k]}


class Prompt(NamedTuple):
    """A prompt parsed once — Chapter 7. Pass this value down; never re-derive it.

    text: the prompt as typed; attrs: what ``parse`` read (only the keys it names);
    ids: its token ids (MAX_TOKENS,) int32, padded with 0.
    """

    text: str
    attrs: dict
    ids: np.ndarray

    @property
    def named(self) -> tuple[str, ...]:
        """The attribute keys the prompt names, in ``shapes.KEYS`` order."""
        return tuple(self.attrs)


def prompt(p) -> Prompt:
    """str -> ``Prompt`` (parsed and encoded once; bad prompts raise ``ValueError``). A Prompt passes through."""
    if isinstance(p, Prompt):
        return p
    return Prompt(p, parse(p), encode(p))


def prompts(ps) -> list[Prompt]:
    """One prompt or many -> a list of ``Prompt``; ``None`` or nothing is a clear ``ValueError``."""
    if ps is None:
        raise ValueError("prompts is None: pass a prompt string or a list of them")
    if isinstance(ps, (str, Prompt)):
        ps = [ps]
    try:
        ps = list(ps)
    except TypeError:
        raise TypeError(f"prompts must be a str or a list of str, got {type(ps).__name__}") from None
    if not ps:
        raise ValueError("no prompts given")
    return [prompt(p) for p in ps]


__all__ = ["MAX_TOKENS", "PAD", "UNK", "WORDS", "STOPWORDS", "Vocabulary", "VOCAB",
           "tokenize", "encode", "decode", "parse", "Prompt", "prompt", "prompts"]
