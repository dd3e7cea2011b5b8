"""The state plane: each report's lifecycle, SLA clocks and re-routing (faust-streaming)."""
