"""Pictures of runs and networks, written as PNG files; one module per method of `launch.py visualize`
(`cnn.viz.visualize.METHODS`), imported by name: `from cnn.viz.cam import grad_cam`."""

from cnn.viz.plots import plot_curves, write_curves

__all__ = ["plot_curves", "write_curves"]
