"""Reading a model's structure off the model itself: per-layer shapes, parameters, costs and receptive fields."""

from cnn.analysis.receptive_field import Field, FieldMap, Misalignment, receptive_fields, trace_fields
from cnn.analysis.summary import LayerRow, Summary, format_summary, summarize, summarize_module, summary_json

__all__ = ["Field", "FieldMap", "Misalignment", "receptive_fields", "trace_fields", "LayerRow", "Summary",
           "summarize", "summarize_module", "format_summary", "summary_json"]
