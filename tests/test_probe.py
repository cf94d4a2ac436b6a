import numpy as np
import pytest

from dalle_edu.data import shapes
from dalle_edu.probe import Probe, caption_fidelity, probe_data, train_probe


class _OracleProbe(Probe):
    """A probe that 'reads' the attributes we tell it: tests the bookkeeping, not a CNN."""

    def __init__(self, answers):
        self.answers = answers

    def predict(self, images, batch_size=256):
        return self.answers


def test_caption_fidelity_counts_only_named_attributes():
    drawn = [dict(color="red", shape="circle", size="big", vpos="top", hpos="left"),
             dict(color="blue", shape="square", size="small", vpos="bottom", hpos="right")]
    probe = _OracleProbe(drawn)
    wanted = [{"color": "red", "shape": "circle"},              # partial prompt, right
              {"color": "blue", "shape": "square", "size": "big"}]  # wrong size
    out = caption_fidelity(probe, np.zeros((2, 32, 32, 3), np.uint8), wanted)
    assert out["fidelity"] == 0.5
    assert out["color"] == 1.0 and out["size"] == 0.0
    assert "vpos" not in out  # no prompt named a position
    with pytest.raises(ValueError, match="2 images but 1"):
        caption_fidelity(probe, np.zeros((2, 32, 32, 3), np.uint8), wanted[:1])


def test_probe_data_covers_held_out_pairs():
    _, labels, attrs = probe_data(2000, seed=0, size=32)
    pairs = {(a["color"], a["shape"]) for a in attrs}
    assert shapes.HELD_OUT <= pairs
    assert labels["color"].shape == (2000,)


def test_small_probe_learns_colour_quickly():
    probe = train_probe(size=32, n=2000, epochs=2, seed=0)
    images, _, attrs = shapes.sample(300, split="test", seed=3)
    pred = probe.predict(images)
    assert np.mean([p["color"] == a["color"] for p, a in zip(pred, attrs)]) > 0.9
