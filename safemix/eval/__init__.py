"""Evaluation: probes, judges, task metrics and reports."""
