"""One self-contained HTML page per run."""

from .page import REPORT_FILE, render_report, write_report

__all__ = ["REPORT_FILE", "render_report", "write_report"]
