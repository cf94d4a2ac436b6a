"""Tests for dalle_edu.widgets, headless (no kernel, Agg backend) — Chapter 1."""

import matplotlib

matplotlib.use("Agg")

import ipywidgets  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from dalle_edu import widgets  # noqa: E402
from dalle_edu.widgets import SliderFigure, slider_with_static  # noqa: E402


def _recording_plot(calls):
    def plot(ax, v):
        calls.append(v)
        x = np.linspace(0, 1, 11)
        ax.plot(x, v * x)

    return plot


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_one_panel_per_static_value_with_titles():
    calls = []
    out = slider_with_static(_recording_plot(calls), "d", 0.0, 1.0, 0.05, 0.5,
                             static_values=[0.1, 0.5, 0.9], display=False)
    assert isinstance(out, SliderFigure)
    fig = out.figure
    assert len(fig.axes) == 3
    assert [ax.get_title() for ax in fig.axes] == ["d = 0.1", "d = 0.5", "d = 0.9"]
    # each panel drew its own value: slope v of the line v * x
    slopes = [ax.lines[0].get_ydata()[-1] for ax in fig.axes]
    np.testing.assert_allclose(slopes, [0.1, 0.5, 0.9])
    assert fig.dpi == 80
    # the live widget rendered once on construction with the initial value, then the panels
    assert calls == [0.5, 0.1, 0.5, 0.9]


def test_widget_is_an_interactive_float_slider_wired_to_plot_fn():
    calls = []
    widget, fig = slider_with_static(_recording_plot(calls), "d", 0.01, 0.99, 0.01, 0.3,
                                     static_values=[0.2], display=False)
    assert isinstance(widget, ipywidgets.interactive)
    slider = widget.children[0]
    assert isinstance(slider, ipywidgets.FloatSlider)
    assert (slider.min, slider.max, slider.step, slider.value, slider.description) == (0.01, 0.99, 0.01, 0.3, "d")
    calls.clear()
    slider.value = 0.7  # moving the slider re-runs the plot with the new value
    assert calls == [pytest.approx(0.7)]
    # live figures are closed after drawing; only the static one is left open for the caller
    assert plt.get_fignums() == [fig.number]


def test_integer_ranges_give_an_int_slider():
    widget, fig = slider_with_static(_recording_plot([]), "k", 0, 10, 1, 3, static_values=[0, 5, 10], display=False)
    assert isinstance(widget.children[0], ipywidgets.IntSlider)
    assert len(fig.axes) == 3


def test_title_and_display_without_a_kernel():
    widget, fig = slider_with_static(_recording_plot([]), "d", 0.0, 1.0, 0.1, 0.5, static_values=[0.5],
                                     title="a loss", display=True)
    assert fig._suptitle.get_text() == "a loss"
    assert plt.get_fignums() == []  # displayed figures are closed (no duplicates from the inline backend)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(static_values=[]), ValueError, "at least one value"),
        (dict(static_values=[0.5, 2.0]), ValueError, r"\[2.0\] are outside"),
        (dict(value=5.0), ValueError, "outside the slider range"),
        (dict(min=1.0, max=0.0), ValueError, "min < max"),
        (dict(step=0.0), ValueError, "step must be positive"),
        (dict(name="D(G(z))"), ValueError, "identifier"),
        (dict(plot_fn="plot"), TypeError, "callable"),
        (dict(min="0"), TypeError, "min must be a number"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, error, match):
    args = dict(plot_fn=_recording_plot([]), name="d", min=0.0, max=1.0, step=0.1, value=0.5,
                static_values=[0.5], display=False)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        slider_with_static(**args)


# --- the text-to-image playgrounds (Chapter 7) ------------------------------------------

@pytest.fixture(scope="module")
def shipped():
    from dalle_edu import api

    return api.load_model("gan-labels")  # the GAN: truncation and interpolation are its knobs


def test_prompt_box_draws_live_and_static(shipped):
    box = widgets.prompt_box(shipped, ["a red circle", "a big blue square at the top left"], n=3,
                             display=False)
    assert len(box.figure.axes) == 1 and box.figure.axes[0].get_images()[0].get_array().shape[:2] == (
        2 * 33 - 1, 3 * 33 - 1)  # two rows of three 32x32 images, 1 px apart
    plt.close(box.figure)
    with pytest.raises(ValueError, match="at least one prompt"):
        widgets.prompt_box(shipped, [], display=False)


def test_truncation_narrows_the_noise_and_changes_the_pictures(shipped):
    a = shipped.generate(["a red circle"], seed=0, n_per_prompt=4)
    assert np.array_equal(a, shipped.generate(["a red circle"], seed=0, n_per_prompt=4, truncation=None))
    t = shipped.generate(["a red circle"], seed=0, n_per_prompt=4, truncation=0.5)
    assert t.shape == a.shape and not np.array_equal(a, t)
    np.testing.assert_array_equal(t, shipped.generate(["a red circle"], seed=0, n_per_prompt=4,
                                                      truncation=0.5))
    with pytest.raises(ValueError, match="truncation must be a number > 0"):
        shipped.generate(["a red circle"], truncation=0)
    fig = widgets.truncation_slider(shipped, "a red circle", n=3, static_values=(0.5, 1.0),
                                    display=False).figure
    assert len(fig.axes) == 2
    plt.close(fig)


def test_interpolation_slider_ends_at_the_two_prompts(shipped):
    fig = widgets.interpolation_slider(shipped, "a red circle", "a blue square", n=2,
                                       static_values=(0.0, 1.0), display=False).figure
    first = fig.axes[0].get_images()[0].get_array()
    ends = shipped.generate(None, seed=0, cond=np.repeat(shipped.conditions(["a red circle"]), 2, 0),
                            sample_unsaid=False)
    np.testing.assert_array_equal(first[:32, :32], ends[0])
    plt.close(fig)


def test_a_stored_widget_says_to_run_the_cell(monkeypatch):
    """What JupyterLab and GitHub show for a stored widget before the cell runs."""
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj, raw=False: shown.append((obj, raw)))
    w = ipywidgets.IntSlider()
    widgets.show_live(w)
    (bundle, raw), = shown
    assert raw and bundle["text/plain"] == widgets.LIVE_ONLY and "run this cell" in bundle["text/plain"]
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == w.model_id


def test_static_panels_wrap_to_fit_the_books_column():
    """A strip of wide panels goes onto several rows, never wider than the page."""
    from dalle_edu.images import PAGE_INCHES
    out = slider_with_static(lambda ax, v: ax.plot([0, 1], [0, v]), "t", 0.0, 1.0, 0.1, 0.5,
                             static_values=[0.0, 0.25, 0.5, 1.0], panel_size=(4.8, 1.1),
                             display=False)
    width, height = out.figure.get_size_inches()
    assert width <= PAGE_INCHES and height == pytest.approx(2 * 1.1)
    assert [ax.get_title() for ax in out.figure.axes] == ["t = 0", "t = 0.25", "t = 0.5", "t = 1"]
    plt.close(out.figure)
