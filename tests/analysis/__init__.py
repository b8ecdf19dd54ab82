"""Analysis and outputs: calibration, backtest, ensembles, Sobol, search, discovery, reports, plots, export."""
