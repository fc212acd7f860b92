"""Feedback analysis that runs offline on any language: language detection, sentiment, themes,
and the themes that separate detractors from promoters."""
