"""Reading a model's structure off the model itself: per-layer shapes, parameters and costs."""

from cnn.analysis.summary import LayerRow, Summary, format_summary, summarize, summarize_module, summary_json

__all__ = ["LayerRow", "Summary", "summarize", "summarize_module", "format_summary", "summary_json"]
