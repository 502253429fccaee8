"""Pictures of runs and networks, written as PNG files."""

from cnn.viz.plots import plot_curves, write_curves

__all__ = ["plot_curves", "write_curves"]
