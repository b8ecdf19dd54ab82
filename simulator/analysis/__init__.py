"""Stage 4, analysis of runs: Monte Carlo ensembles and Sobol sensitivity, calibration and backtests, policy
search and scenario discovery, shadow prices, water capacity, plausibility guards."""
