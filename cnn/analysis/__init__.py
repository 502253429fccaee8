"""Reading a model's structure off the model itself: per-layer shapes, parameters and costs."""

from cnn.analysis.summary import LayerRow, Summary, format_summary, summarize, summary_json

__all__ = ["LayerRow", "Summary", "summarize", "format_summary", "summary_json"]
