"""Sliders that also work on paper — Chapter 1.

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

import numbers
from collections import namedtuple

import ipywidgets
import matplotlib.pyplot as plt

__all__ = ["SliderFigure", "slider_with_static"]

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
    fig, axes = plt.subplots(1, n, figsize=(panel_size[0] * n, panel_size[1]), dpi=dpi,
                             sharey=True, squeeze=False, layout="constrained")
    for ax, v in zip(axes[0], static_values):
        plot_fn(ax, v)
        ax.set_title(f"{name} = {v:g}")
    if title:
        fig.suptitle(title)

    if display:
        from IPython.display import display as ipy_display

        ipy_display(widget)  # live notebooks: the slider
        _show(fig)  # everyone, including the book: the static figure
    return SliderFigure(widget, fig)


def _show(fig):
    """Display a figure as a stored image output and close it (no duplicate from the inline backend)."""
    from IPython import get_ipython
    from IPython.display import display as ipy_display

    if get_ipython() is not None:
        ipy_display(fig)
        plt.close(fig)
    else:  # plain Python (tests, scripts): nothing to display into
        plt.close(fig)
