"""Build ``<out>/report/report.md`` and a self-contained ``<out>/report/index.html`` from the saved
study summaries (``<out>/<study>/summary.json``) and the ledger; no training happens here."""

from dltour.report.build import build_report

__all__ = ["build_report"]
