"""The uint8 <-> [-1, 1] conversion, grids and GIFs (numpy/Pillow), and viz's plots."""

import numpy as np
import pytest

from dalle_edu import images, viz


def test_to_uint8_clips_and_draws_nan_grey():
    x = np.array([-1.0, 0.0, 1.0, np.nan, 3.0], "float32")
    assert images.to_uint8(x).tolist() == [0, 128, 255, 128, 255]
    u = np.arange(256, dtype=np.uint8)
    assert images.to_uint8(u) is u                               # uint8 passes unchanged
    with pytest.raises(TypeError, match="numeric"):
        images.to_uint8(np.array(["a"]))


def test_to_float_is_the_inverse_of_to_uint8():
    u = np.arange(256, dtype=np.uint8)
    x = images.to_float(u)
    assert x.dtype == np.float32 and x[0] == -1.0 and x[-1] == 1.0
    assert np.array_equal(x, u.astype(np.float32) / 127.5 - 1.0)  # the exact formula
    assert np.array_equal(images.to_uint8(x), u)                  # round trip, every value
    f = np.array([0.5, -0.25], np.float64)
    assert images.to_float(f).dtype == np.float32 and np.array_equal(images.to_float(f), f)
    with pytest.raises(TypeError, match="uint8"):
        images.to_float(np.arange(3))                             # int64: ambiguous range


def test_tile_and_gif(tmp_path):
    grid = images.tile(np.zeros((5, 4, 4, 3), np.uint8), nrow=3)
    assert grid.shape == (9, 14, 3) and grid[4, 0, 0] == 255      # 2 rows, 1px white gaps
    assert images.tile(np.zeros((4, 4, 4))).shape == (9, 9, 1)    # grey (N, H, W), near-square
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        images.tile(np.zeros((2, 4, 4, 2)))
    # two different frames: Pillow merges identical ones
    path = images.save_gif([grid, 255 - grid], tmp_path / "a" / "x.gif", scale=2)
    from PIL import Image

    with Image.open(path) as gif:
        assert gif.size == (28, 18) and gif.n_frames == 2
    with pytest.raises(ValueError, match="at least one frame"):
        images.save_gif([], tmp_path / "y.gif")


def test_viz_re_exports_and_plots():
    assert viz.to_uint8 is images.to_uint8 and viz.tile is images.tile  # the notebooks call viz.*
    fig = viz.image_grid(np.zeros((4, 4, 4)), titles=list("abcd"))
    assert len(fig.axes) == 4
    fig = viz.plot_history({"d_loss": [1.0, 0.5], "g_loss": [0.7, 0.9]})
    assert len(fig.axes[0].lines) == 2
    with pytest.raises(ValueError, match="titles"):
        viz.image_grid(np.zeros((4, 4, 4)), titles=["a"])


def test_label_rows_adds_a_text_column_with_one_label_per_row():
    grid = np.zeros((2 * 20 + 1, 30, 3), np.uint8)  # two rows of 20 px, 1 px apart
    out = images.label_rows(grid, ["first", "a much longer second label"], row_height=20)
    assert out.shape[0] == grid.shape[0] and out.shape[1] > grid.shape[1] + 50
    np.testing.assert_array_equal(out[:, -30:], grid)  # the pictures are untouched
    ink = (out[:, : -30] < 128).any(axis=(1, 2))  # dark text on white, in each row's band
    assert ink[:20].any() and ink[21:].any()


def test_show_rows_labels_each_row_with_what_the_judge_reads():
    import matplotlib
    matplotlib.use("Agg")
    from dalle_edu import viz
    from dalle_edu.data import shapes

    prompts = ["a big red circle at the top left", "a small blue square"]
    renders = shapes.sample(6, "test", seed=0)[0]
    fig = viz.show_rows({"renders": renders, "black": np.zeros_like(renders)}, prompts, n=3,
                        judge=lambda row, wanted: 1.0 if row.max() > 0 else 0.0, show=False)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == [f"{prompts[0]}  [3/3]", f"{prompts[1]}  [3/3]"]
    assert [t.get_text() for t in fig.axes[1].get_yticklabels()] == ["[0/3]", "[0/3]"]
    with pytest.raises(ValueError, match="expected 6 images"):
        viz.show_rows({"short": renders[:4]}, prompts, n=3)
    assert viz.show_rows({"renders": renders}, prompts, n=3) is None  # shown once, not twice


def test_table_is_a_dataframe_with_three_decimals():
    from dalle_edu import viz
    frame = viz.table([{"model": "gan", "test": 0.97612, "n": 1000, "ms": None}], index="model")
    assert list(frame.columns) == ["test", "n", "ms"]
    assert frame.loc["gan"].tolist() == ["0.976", "1,000", "–"]
    ragged = viz.table([{"model": "real"}, {"model": "gan", "ms": 0.2}], index="model")
    assert ragged["ms"].tolist() == ["–", "0.200"]
    assert "0.976" in frame.to_html() and "0.976" in repr(frame)
    with_interval = viz.table([{"model": "gan", "test": 0.976, "diversity": 0.526}],
                              index="model", shares={"test": 1_000})
    assert with_interval.loc["gan"].tolist() == ["0.976 [0.965, 0.984]", "0.526"]


def test_rerank_table_says_which_k_differs_from_k1_beyond_the_noise():
    from dalle_edu import metrics, viz

    def row(k, test, held):
        return {"k": k, "geometry_test": test, "geometry_compositional": held,
                "ms_per_image_test": 2.0 * k}

    curves = {"dalle": [row(1, 0.905, 0.905), row(4, 0.990, 0.915), row(16, 0.900, 1.0)]}
    frame = viz.rerank_table(curves, n=200)
    assert frame.index.tolist() == [("dalle", "1"), ("dalle", "4"), ("dalle", "16")]
    assert frame["test vs k = 1"].tolist() == ["–", "beyond the noise", "a tie"]
    assert frame["held-out vs k = 1"].tolist() == ["–", "a tie", "beyond the noise"]
    assert frame.loc[("dalle", "4"), "test"] == metrics.share_text(0.990, 200, with_n=False)
    assert frame["ms per kept image"].tolist() == ["2.0", "8.0", "32.0"]


def test_show_rows_can_label_rows_without_judging_them():
    from dalle_edu import viz
    from dalle_edu.data import shapes

    renders = shapes.sample(4, "test", seed=0)[0]
    fig = viz.show_rows({"": renders}, n=2, labels=["noise 0", "noise 1"], judge=False,
                        show=False)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["noise 0", "noise 1"]


def test_ring_row_titles_each_snapshot_with_its_collapse_report():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from types import SimpleNamespace

    from dalle_edu.data import toy

    ring = toy.ring()
    x = ring.sample(400, seed=0)  # (400, 2), all 8 modes
    nearest = np.argmin(((x[:, None] - ring.modes[None]) ** 2).sum(-1), axis=1)
    snaps = SimpleNamespace(steps=[0, 50, 100, 150],
                            samples=[np.full((40, 2), 9.0), x[nearest < 2], x, x[:5]])
    fig, axes = plt.subplots(1, 3)  # 3 axes, 4 snapshots: the first, a middle, the last
    viz.ring_row(snaps, axes, ring, "run")
    titles = [ax.get_title() for ax in axes]
    on_mode = [toy.collapse_report(snaps.samples[i], ring).on_mode for i in (2, 3)]
    few = toy.collapse_report(x[:5], ring).occupied
    assert titles == ["run, step 0\non_mode 0.00\nno mode",
                      f"run, step 100\non_mode {on_mode[0]:.2f}\n8 modes: 01234567",
                      f"run, step 150\non_mode {on_mode[1]:.2f}\n{len(few)} mode"
                      + ("s" if len(few) > 1 else "") + ": " + "".join(map(str, few))]
    assert len(axes[1].collections[0].get_offsets()) == 400  # every sample drawn
    plt.close(fig)
