"""Sliders and prompt boxes that also work on paper — Chapters 1 and 8.

A notebook slider needs a live kernel; the course book is built from stored outputs
without one. ``slider_with_static`` therefore shows two things for one plotting function:

* an ``ipywidgets.interactive`` slider (live notebooks: drag it), and
* a static row of small multiples, one panel per value in ``static_values``
  (stored as a PNG, so the book and GitHub show it too).

The plotting function draws on a given axes::

    def plot(ax, d):                       # d = the slider's value
        ax.plot(grid, loss(grid)); ax.axvline(d)

    slider_with_static(plot, "d", 0.01, 0.99, 0.01, 0.5, static_values=[0.05, 0.5, 0.95])
"""

from __future__ import annotations

import builtins
import numbers
from collections import namedtuple

import ipywidgets
import matplotlib.pyplot as plt

from dalle_edu.images import PAGE_INCHES

__all__ = ["SliderFigure", "slider_with_static", "show_live", "PromptBox", "prompt_box", "interpolation_slider",
           "truncation_slider"]

SliderFigure = namedtuple("SliderFigure", ["widget", "figure"])
"""What ``slider_with_static`` returns: the live ``interactive`` widget and the static figure."""


def slider_with_static(plot_fn, name, min, max, step, value, static_values, *,
                       panel_size=(3.2, 2.6), dpi=80, title=None, display=True):
    """Show ``plot_fn(ax, value)`` behind a slider *and* as small multiples (Chapter 1).

    ``plot_fn(ax, v)`` draws the picture for slider value ``v`` on the axes ``ax``.
    ``name`` labels the slider and the panel titles (``"name = v"``). An all-integer
    ``min``/``max``/``step`` gives an ``IntSlider``, anything else a ``FloatSlider``.
    With ``display=False`` nothing is shown (tests); the static figure is left open
    for the caller, who should ``plt.close`` it. Returns ``SliderFigure(widget, figure)``.
    """
    if not callable(plot_fn):
        raise TypeError(f"plot_fn must be callable as plot_fn(ax, value), got {type(plot_fn).__name__}")
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"name must be a Python identifier (it becomes a keyword argument), got {name!r}")
    for label, v in (("min", min), ("max", max), ("step", step), ("value", value)):
        if not isinstance(v, numbers.Real) or isinstance(v, bool):
            raise TypeError(f"{label} must be a number, got {v!r}")
    if not min < max:
        raise ValueError(f"need min < max, got min={min}, max={max}")
    if step <= 0:
        raise ValueError(f"step must be positive, got {step}")
    if not min <= value <= max:
        raise ValueError(f"value={value} is outside the slider range [{min}, {max}]")
    static_values = list(static_values)
    if not static_values:
        raise ValueError("static_values must hold at least one value (one panel each)")
    outside = [v for v in static_values if not min <= v <= max]
    if outside:
        raise ValueError(f"static_values {outside} are outside the slider range [{min}, {max}]")

    def live(**kwargs):
        # one fresh figure per slider move; shown, then closed so it is not shown twice
        fig, ax = plt.subplots(figsize=panel_size, dpi=dpi, layout="constrained")
        plot_fn(ax, kwargs[name])
        ax.set_title(f"{name} = {kwargs[name]:g}")
        _show(fig)

    ints = all(isinstance(v, numbers.Integral) for v in (min, max, step, value))
    slider_cls = ipywidgets.IntSlider if ints else ipywidgets.FloatSlider
    slider = slider_cls(min=min, max=max, step=step, value=value, description=name,
                        continuous_update=False)  # redraw on release: matplotlib is slow
    # a live kernel runs `live` now and on every release; without one it only prints
    widget = ipywidgets.interactive(live, **{name: slider})

    n = len(static_values)
    # as many panels a row as fit the book's column (PAGE_INCHES at any dpi), so that no
    # panel is shown smaller than it was drawn
    cols = builtins.max(1, builtins.min(n, int(PAGE_INCHES // panel_size[0])))  # min, max: args
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(panel_size[0] * cols, panel_size[1] * rows),
                             dpi=dpi, sharey=True, squeeze=False, layout="constrained")
    for ax, v in zip(axes.flat, static_values):
        plot_fn(ax, v)
        ax.set_title(f"{name} = {v:g}")
    for ax in list(axes.flat)[n:]:
        ax.set_axis_off()
    if title:
        fig.suptitle(title)

    if display:
        show_live(widget)  # live notebooks: the slider
        _show(fig)  # everyone, including the book: the static figure
    return SliderFigure(widget, fig)


LIVE_ONLY = ("A live widget: run this cell in Jupyter or Colab to use it "
             "(the pictures below were stored from a run).")


def show_live(widget):
    """Display ``widget``; where no kernel draws it, its stored text says to run the cell.

    ipywidgets' own plain-text fallback is the widget's repr,
    ``interactive(children=(FloatSlider(...`` — what JupyterLab shows for a stored widget
    until the cell runs.
    """
    from IPython.display import display as ipy_display

    bundle = widget._repr_mimebundle_()
    bundle["text/plain"] = LIVE_ONLY
    ipy_display(bundle, raw=True)


def _show(fig):
    """Display a figure as a stored image output and close it (no duplicate from the inline backend)."""
    from IPython import get_ipython
    from IPython.display import display as ipy_display

    if get_ipython() is not None:
        ipy_display(fig)
        plt.close(fig)
    else:  # plain Python (tests, scripts): nothing to display into
        plt.close(fig)


# --- text-to-image playgrounds (Chapter 8) ------------------------------------------------
# Each takes any model with ``generate(prompts, seed, n_per_prompt, ...)``: live in
# JupyterLab / Colab, and a static figure of a few fixed settings for the book.

PromptBox = namedtuple("PromptBox", ["widget", "figure"])


def _draw_rows(ax, images, per_row, labels=None):
    import numpy as np

    from dalle_edu.images import tile

    ax.imshow(tile(images, nrow=per_row, pad_value=110))
    ax.set_xticks([])
    if labels:
        size = images.shape[1] + 1
        ax.set_yticks(np.arange(len(labels)) * size + size / 2 - 1, labels, fontsize=8)
    else:
        ax.set_yticks([])


def prompt_box(model, static_prompts, n=8, seed=0, value=None, dpi=80, display=True):
    """Type a prompt, see ``n`` images; bad prompts answer with the parser's one-line message.

    The static figure draws ``static_prompts`` (one row each) for the book and GitHub.
    Returns ``PromptBox(widget, figure)``.
    """
    static_prompts = list(static_prompts)
    if not static_prompts:
        raise ValueError("static_prompts must hold at least one prompt (one row of the static figure)")
    text = ipywidgets.Text(value=value or static_prompts[0], description="prompt",
                           continuous_update=False,  # redraw on Enter / leaving the box
                           layout=ipywidgets.Layout(width="60%"))
    seed_box = ipywidgets.IntText(value=seed, description="seed", layout=ipywidgets.Layout(width="20%"))
    button = ipywidgets.Button(description="draw")
    out = ipywidgets.Output()

    def draw(_=None):
        out.clear_output(wait=True)
        with out:
            try:
                images = model.generate([text.value], seed=max(0, int(seed_box.value)), n_per_prompt=n)
            except ValueError as err:  # an unknown word, a contradiction...: say it, no traceback
                print(f"{err}")
                return
            fig, ax = plt.subplots(figsize=(1.0 * n, 1.3), dpi=dpi, layout="constrained")
            _draw_rows(ax, images, n)
            ax.set_title(repr(text.value), fontsize=9)
            _show(fig)

    button.on_click(draw)
    text.observe(draw, names="value")
    widget = ipywidgets.VBox([ipywidgets.HBox([text, seed_box, button]), out])
    images = model.generate(static_prompts, seed=seed, n_per_prompt=n)
    fig, ax = plt.subplots(figsize=(1.0 * n + 2.5, 1.0 * len(static_prompts) + 0.4), dpi=dpi,
                           layout="constrained")
    _draw_rows(ax, images, n, labels=static_prompts)
    if display:
        show_live(widget)
        draw()
        _show(fig)
    return PromptBox(widget, fig)


def interpolation_slider(model, prompt_a, prompt_b, n=6, seed=0, static_values=(0.0, 0.25, 0.5, 0.75, 1.0),
                         display=True):
    """Slide from one prompt's condition to another's: ``cond = (1 - t) c_a + t c_b``, same noise.

    Needs a model with ``conditions(prompts)`` and ``generate(..., cond=...)`` (the GAN).
    """
    import numpy as np

    c_a, c_b = model.conditions([prompt_a, prompt_b])

    def plot(ax, t):
        cond = np.repeat(((1 - t) * c_a + t * c_b)[None], n, axis=0)
        _draw_rows(ax, model.generate(None, seed=seed, cond=cond, sample_unsaid=False), n)

    return slider_with_static(plot, "t", 0.0, 1.0, 0.05, 0.5, list(static_values),
                              panel_size=(0.55 * n + 0.4, 1.1),
                              title=f"t = 0: {prompt_a!r}   ->   t = 1: {prompt_b!r}", display=display)


def truncation_slider(model, prompt, n=8, seed=0, static_values=(0.25, 0.5, 1.0, 2.0), display=True):
    """The fidelity-diversity knob: noise entries beyond the truncation t are drawn again."""

    def plot(ax, t):
        _draw_rows(ax, model.generate([prompt], seed=seed, n_per_prompt=n, truncation=t), n)

    return slider_with_static(plot, "truncation", 0.1, 3.0, 0.05, 1.0, list(static_values),
                              panel_size=(0.55 * n + 0.4, 1.1), title=repr(prompt), display=display)
