"""Reading a model's structure off the model itself: per-layer shapes, parameters, costs and receptive fields."""

from cnn.analysis.effective_field import EffectiveField, effective_field, layer_output
from cnn.analysis.receptive_field import Field, FieldMap, Misalignment, receptive_fields, trace_fields
from cnn.analysis.report import LayerReport, Report, analyze, analyze_module, format_report, report_json
from cnn.analysis.summary import LayerRow, Summary, format_summary, summarize, summarize_module, summary_json

__all__ = ["EffectiveField", "effective_field", "layer_output", "Field", "FieldMap", "Misalignment",
           "receptive_fields", "trace_fields", "LayerReport", "Report", "analyze", "analyze_module", "format_report",
           "report_json", "LayerRow", "Summary", "summarize", "summarize_module", "format_summary", "summary_json"]
