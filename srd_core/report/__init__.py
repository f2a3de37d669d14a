"""Report: a run directory's artifacts turned into a summary, plots and report.html."""
