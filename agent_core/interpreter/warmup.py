"""Code every new kernel runs once before it is used.

It pre-imports pandas, numpy and matplotlib (so the first chart is fast), turns on the
inline backend (figures left open at the end of a cell come back as PNG images), and
closes figures the cell already saved with ``savefig`` so the same chart does not come
back twice (once as the saved file, once as an inline image).
"""

WARMUP_CODE = r"""
import os, sys, warnings
import numpy as np
import pandas as pd
import matplotlib
import matplotlib.figure as _adk_mfig
import matplotlib.pyplot as plt

def _adk_install():
    _orig_savefig = _adk_mfig.Figure.savefig
    if getattr(_orig_savefig, "_adk", False):
        return
    def savefig(self, *args, **kwargs):
        self._adk_saved = True
        return _orig_savefig(self, *args, **kwargs)
    savefig._adk = True
    _adk_mfig.Figure.savefig = savefig

    def _adk_close_saved():
        from matplotlib._pylab_helpers import Gcf
        for manager in list(Gcf.get_all_fig_managers()):
            if getattr(manager.canvas.figure, "_adk_saved", False):
                plt.close(manager.canvas.figure)

    get_ipython().events.register("post_execute", _adk_close_saved)

_adk_install()
del _adk_install
get_ipython().run_line_magic("matplotlib", "inline")

def _adk_first_draw():
    # Draw and encode one small figure so fonts, the Agg renderer, the PNG writer and
    # pandas' plotting backend are loaded before the user's first chart.
    import io
    import pandas.plotting._matplotlib  # noqa: F401
    idx = pd.date_range("2024-01-01", periods=300, freq="B")
    df = pd.DataFrame({"close": np.linspace(1.0, 2.0, 300)}, index=idx)
    df["ma"] = df["close"].rolling(20).mean()
    fig, ax = plt.subplots(figsize=(8, 4))
    df.plot(ax=ax, title="warm")
    ax.legend()
    fig.tight_layout()
    fig.savefig(io.BytesIO(), format="png", dpi=100)
    plt.close(fig)

_adk_first_draw()
del _adk_first_draw
os.umask(0o022)
"""
