"""The comparison report: which optimizer trains each task best, judged on seeds and test."""

from optarena.report.build import Report, build_report

__all__ = ["Report", "build_report"]
