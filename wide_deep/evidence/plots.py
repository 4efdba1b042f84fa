"""Matplotlib, set up once for files (the Agg backend: no screen), and a figure as an embeddable PNG."""

from __future__ import annotations

import base64
import io


def pyplot():
    """matplotlib.pyplot on the Agg backend (imported on first use: it is slow to import)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_data_uri(draw, size=(5.2, 3.8), dpi: int = 90) -> str:
    """Draw on a new axes with `draw(ax)` and return the figure as a data: URI (no file, no network)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=size, dpi=dpi)
    draw(ax)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return f"data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}"
