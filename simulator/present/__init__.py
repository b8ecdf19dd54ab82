"""Stage 5, outputs: the plan's goals, reports, plots, files written atomically, and the generated model
documentation."""
