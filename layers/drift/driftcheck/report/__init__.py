"""The HTML report: one self-contained page a person would rather look at than read.

A header with the verdict, whose baseline the window was compared with, and where this check
stands against the drift alarm; a table of every feature with each measure beside its threshold
(the one that decided marked), why an "ok" can sit beside a large number, and the feature's
distance over the last checks; then for each drifted feature its CDFs (steps for whole
numbers), a histogram overlay, mean and standard deviation side by side, and its distance over
the last checks, all with labelled axes. Inline SVG, no JavaScript and no external assets, so
the page renders the same from S3, an email attachment or a browser's file viewer. Every string
that came from data or configuration (title, feature names, categories) is escaped.

The modules: page.py lays the page out, charts.py draws its SVG, words.py says the findings and
numbers for a person, context.py holds what the page says beyond the window.
"""

from __future__ import annotations

from driftcheck.report.context import AlarmRule, PastCheck, ReportContext
from driftcheck.report.page import render_report

__all__ = ["AlarmRule", "PastCheck", "ReportContext", "render_report"]
