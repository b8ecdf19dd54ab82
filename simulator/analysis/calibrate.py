"""Calibration: fit free parameters to the cities' statistics by weighted least squares.

``simulate calibrate calibration/baseline.yaml`` runs the model over the window (2010-2020 by default, so
projections from 2021 on stay out of sample), with scipy.optimize.least_squares from several starts (a
Latin hypercube over the bounds plus the declared defaults) and Jacobians by finite differences computed
as one batch of runs through the numba kernel. Residuals are scaled by each series' observation error, so
the cost is half a chi-square. It then writes:

- the fitted parameter file (YAML; data and configuration hashes and the date recorded) that scenarios read
  with ``parameters_from:`` (scenarios/baseline.yaml does);
- ``fit.json`` and a report: MAPE, RMSPE, R² and Theil's U_M, U_S, U_C per series and city;
- fit plots, simulated against observed;
- the joint posterior, sampled with emcee's affine-invariant ensemble sampler (the walkers of each move
  evaluated as one batch of kernel runs): thinned draws after burn-in as a CSV (a row per draw, a column per
  fitted number, so ensembles reuse them jointly), with acceptance, split R-hat and effective sample size;
- identifiability: parameters on a bound (each a warning with its reason), the posterior correlation matrix,
  and the cost profiled along the worst-determined direction of the Gauss-Newton Hessian;
- parameter uncertainty as an ``uncertain:`` block a Monte Carlo scenario can extend.

With ``--out DIR`` every file goes into DIR and the committed fitted files are left alone; without it the
fitted files beside the configuration (``fitted_file``, its ``_uncertain.yaml`` and ``_posterior.csv``) are
updated and the report goes to ``outputs/calibration_<name>/``.

The likelihood is Gaussian in the scaled residuals, tempered by the fit's reduced chi-square when that
exceeds one (the stated observation errors are then too small for the model's structural error, and the
posterior would otherwise be too narrow); the bounds are a uniform prior box and the stated priors are
residuals like the data.
"""

from __future__ import annotations

import hashlib
import math
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import optimize, stats
from scipy.stats import qmc

from ..engine import InputRef, Inputs, Model, default_inputs, simulate
from ..inputs.calibration import Config, load_config
from ..inputs.scenario import display_path, load_scenario
from ..model import load_model
from .fit import fit_statistics

BOUND_MARGIN = 0.01  # a fitted value within 1 % of the bound interval's width of a bound is "on the bound"


# ------------------------------------------------------------------------------------------------
# the problem


class FitProblem:
    """Residuals of a batch of parameter vectors, from one batch of kernel runs."""

    def __init__(self, model: Model, config: Config, base: Inputs):
        self.model, self.config, self.base = model, config, base
        self.variables = sorted({t.variable for t in config.targets})
        self.lows = np.array([f.low for f in config.free])
        self.highs = np.array([f.high for f in config.free])
        probe = simulate(model, base, config.grid, config.method, record=self.variables)
        cities = list(model.spec.elements("city"))
        times = list(config.grid.times)
        self.index = []  # per target: (columns, saves, previous saves or None, observed)
        for t in config.targets:
            regional = not model.variables[t.variable].dims  # one value for the four cities: rows of city "all"
            cols = np.array([probe.column(t.variable, 0 if regional else cities.index(c)) for c in t.rows.city])
            saves = np.array([times.index(float(y)) for y in t.rows.year])
            previous = saves - 1 if t.transform == "growth_rate" else None
            self.index.append((cols, saves, previous, t.rows.value.to_numpy(float)))
        self.columns = [base.columns(InputRef(f.name))[f.elements] for f in config.free]

    def inputs(self, x: np.ndarray, base: Inputs | None = None) -> Inputs:
        """One run per row of ``x``: the fitted numbers set in ``base`` (default: the problem's own inputs)."""
        x = np.atleast_2d(x)
        inputs = (base or self.base).with_runs(len(x))
        for j, columns in enumerate(self.columns):
            inputs.params[:, columns] = x[:, j : j + 1]
        return inputs

    def simulated(self, x: np.ndarray) -> np.ndarray:
        return simulate(
            self.model, self.inputs(x), self.config.grid, self.config.method, record=self.variables, on_error="nan"
        ).values

    def residuals(self, x: np.ndarray) -> np.ndarray:
        """(runs, residuals), scaled by the observation errors and weights; priors appended."""
        values = self.simulated(x)
        parts = []
        for t, (cols, saves, previous, obs) in zip(self.config.targets, self.index):
            sim = values[:, saves, cols]
            if t.transform == "growth_rate":
                sim = sim / values[:, previous, cols] - 1
                parts.append(t.weight * (sim - obs) / t.error)
            else:
                parts.append(t.weight * (sim - obs) / (t.error * np.abs(obs)))
        x = np.atleast_2d(x)
        for j, f in enumerate(self.config.free):
            if f.prior:
                parts.append(((x[:, j] - f.prior[0]) / f.prior[1])[:, None])
        out = np.concatenate(parts, axis=1)
        return np.where(np.isfinite(out), out, 1e6)

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        """Forward differences, all perturbed runs in one batch."""
        steps = 1e-6 * (self.highs - self.lows)
        steps = np.where(x + steps > self.highs, -steps, steps)
        batch = np.vstack([x, x + np.diag(steps)])
        r = self.residuals(batch)
        return ((r[1:] - r[0]) / steps[:, None]).T

    def simulated_table(self, x: np.ndarray) -> list[pd.DataFrame]:
        values = self.simulated(x)[0]
        out = []
        for t, (cols, saves, previous, _) in zip(self.config.targets, self.index):
            sim = values[saves, cols]
            if t.transform == "growth_rate":
                sim = sim / values[previous, cols] - 1
            out.append(t.rows.assign(simulated=sim))
        return out


def calibrate(
    config: Config, model: Model | None = None, say=print, base: Inputs | None = None, posterior: bool = True
) -> dict:
    """Fit, then estimate uncertainty. Returns everything the writers need.

    ``base``: the inputs the free numbers are set into (default: the configuration's scenario, or the model's
    declared inputs); the backtest passes the inputs as they were known at its origin. ``posterior``: sample
    the joint posterior with emcee (else only the Jacobian Gaussian is used).
    """
    model = model or load_model()
    if base is None:
        base = (
            load_scenario(config.scenario_path, model).inputs(model) if config.scenario_path else default_inputs(model)
        )
    problem = FitProblem(model, config, base)
    lows, highs = problem.lows, problem.highs
    x_default = np.array([f.default for f in config.free])
    starts = [x_default]
    if config.starts > 1:
        sampler = qmc.LatinHypercube(d=len(x_default), seed=config.seed)
        starts += list(qmc.scale(sampler.random(config.starts - 1), lows, highs))
    best = None
    for k, x0 in enumerate(starts):
        result = optimize.least_squares(
            lambda x: problem.residuals(x)[0],
            x0,
            jac=problem.jacobian,
            bounds=(lows, highs),
            x_scale="jac",
            method="trf",
            max_nfev=200,
        )
        say(f"  start {k + 1}/{len(starts)}: cost {result.cost:.4g} after {result.nfev} evaluations")
        if best is None or result.cost < best.cost:
            best = result
    x = best.x
    m, n = len(best.fun), len(x)
    jac = problem.jacobian(x)
    scale = max(1.0, 2 * best.cost / max(m - n, 1))  # inflate when the fit is worse than the stated errors
    try:
        cov = np.linalg.pinv(jac.T @ jac) * scale
    except np.linalg.LinAlgError:
        cov = np.diag(((highs - lows) / 4) ** 2)
    sd = np.sqrt(np.clip(np.diag(cov), 0, None))
    ensemble = _filtered_ensemble(problem, x, cov, best.cost, config)
    chain = sample_posterior(problem, x, cov, scale, config, say) if posterior else None
    return {
        "x": x,
        "cost": float(best.cost),
        "m": m,
        "n": n,
        "sd_jacobian": sd,
        "cov": cov,
        "scale": scale,
        "ensemble": ensemble,
        "posterior": chain,
        "tables": problem.simulated_table(x),
        "problem": problem,
        "x_default": x_default,
        "tables_default": problem.simulated_table(x_default),
        "carried": _carry_over(model, problem, config, x),
        "identifiability": identifiability(problem, config, x, jac, best.cost, chain),
    }


def sample_posterior(problem: FitProblem, x, cov, scale: float, config: Config, say=print) -> dict:
    """emcee's affine-invariant ensemble sampler (Goodman & Weare 2010; Foreman-Mackey et al. 2013).

    log p = -chi2 / (2 scale) inside the bounds (priors are among the residuals), -inf outside. The walkers
    start in a small ball around the best fit (drawn from the Jacobian Gaussian shrunk 10x, clipped inside
    the bounds); each move's half-ensemble is one batch of kernel runs (``vectorize=True``).
    """
    import emcee

    spec = config.posterior
    n = len(x)
    walkers = max(spec.walkers, 2 * n + 2)
    walkers += walkers % 2
    rng = np.random.default_rng(config.seed)
    span = problem.highs - problem.lows
    ball = rng.multivariate_normal(np.zeros(n), cov / 100, size=walkers, method="eigh", check_valid="ignore")
    ball += rng.normal(0, 1e-3, size=ball.shape) * span
    start = np.clip(x + ball, problem.lows + 1e-6 * span, problem.highs - 1e-6 * span)

    def log_prob(batch):
        batch = np.atleast_2d(batch)
        inside = np.all((batch >= problem.lows) & (batch <= problem.highs), axis=1)
        out = np.full(len(batch), -np.inf)
        if inside.any():
            chi2 = np.sum(problem.residuals(batch[inside]) ** 2, axis=1)
            out[inside] = -0.5 * chi2 / scale
        return out

    sampler = emcee.EnsembleSampler(
        walkers, n, log_prob, vectorize=True, moves=[(emcee.moves.DEMove(), 0.8), (emcee.moves.DESnookerMove(), 0.2)]
    )
    sampler.random_state = np.random.RandomState(config.seed).get_state()
    sampler.run_mcmc(start, spec.steps, progress=False, skip_initial_state_check=True)
    burn, thin = spec.burn, spec.thin
    chain = sampler.get_chain(discard=burn)  # (steps, walkers, n)
    draws = sampler.get_chain(discard=burn, thin=thin, flat=True)
    log_p = sampler.get_log_prob(discard=burn, thin=thin, flat=True)
    try:
        tau = sampler.get_autocorr_time(discard=burn, tol=0)
    except Exception:
        tau = np.full(n, np.nan)
    ess = chain.shape[0] * chain.shape[1] / np.where(np.isfinite(tau) & (tau > 0), tau, np.nan)
    acceptance = float(np.mean(sampler.acceptance_fraction))
    rhat = split_rhat(chain, groups=4)
    say(
        f"  posterior: {walkers} walkers x {spec.steps} steps (burn-in {burn}, thin {thin}): acceptance "
        f"{acceptance:.2f}, max R-hat {np.nanmax(rhat):.3f}, min ESS {np.nanmin(ess):.0f}, {len(draws)} draws kept"
    )
    return {
        "draws": draws,
        "log_prob": log_p,
        "acceptance": acceptance,
        "rhat": rhat,
        "tau": tau,
        "ess": ess,
        "walkers": walkers,
        "steps": spec.steps,
        "burn": burn,
        "thin": thin,
        "scale": scale,
    }


def split_rhat(chain: np.ndarray, groups: int = 4) -> np.ndarray:
    """Gelman-Rubin R-hat (split chains, Gelman et al. BDA3 11.4) per parameter, treating each group of
    walkers as one chain: walkers of an ensemble are not independent chains, groups of them nearly are.

    chain: (steps, walkers, parameters).
    """
    steps, walkers, n = chain.shape
    groups = max(1, min(groups, walkers))
    per = walkers // groups
    half = steps // 2
    parts = []
    for g in range(groups):
        block = chain[:, g * per : (g + 1) * per, :]
        for piece in (block[:half], block[half : 2 * half]):
            parts.append(piece.reshape(-1, n))  # pooled draws of the group's walkers over half the steps
    stack = np.stack(parts)  # (chains, draws, n)
    m, length = stack.shape[0], stack.shape[1]
    means = stack.mean(axis=1)
    within = stack.var(axis=1, ddof=1).mean(axis=0)
    between = length * means.var(axis=0, ddof=1)
    var_plus = (length - 1) / length * within + between / length
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt(var_plus / within) if m > 1 else np.full(n, np.nan)


def identifiability(problem: FitProblem, config: Config, x, jac, cost: float, chain: dict | None) -> dict:
    """Parameters on a bound, the posterior correlation matrix, and the cost profiled along the
    worst-determined direction (the eigenvector of J'J with the smallest eigenvalue, in units of each
    parameter's bound interval)."""
    span = problem.highs - problem.lows
    labels = [f.label for f in config.free]
    warnings = []
    for label, value, low, high, f in zip(labels, x, problem.lows, problem.highs, config.free):
        for side, bound in (("lower", low), ("upper", high)):
            if abs(value - bound) <= BOUND_MARGIN * (high - low):
                reason = (
                    f"{label} = {value:.4g} is on its {side} bound {bound:g}: the data would move it further, "
                    "so the bound, not the data, sets it (widen the bound if it is not physical, fix it from "
                    "a source, or carry its full range into ensembles)"
                )
                if f.prior:
                    reason += f"; its prior (mean {f.prior[0]:g}, sd {f.prior[1]:g}) pulls the other way"
                warnings.append({"parameter": label, "bound": side, "value": float(value), "reason": reason})
    scaled = jac * span[None, :]
    hessian = scaled.T @ scaled
    eigenvalues, vectors = np.linalg.eigh(hessian)
    worst = vectors[:, 0]
    steps = np.linspace(-0.2, 0.2, 21)
    line = x[None, :] + steps[:, None] * worst[None, :] * span[None, :]
    inside = np.all((line >= problem.lows) & (line <= problem.highs), axis=1)
    profile_cost = np.full(len(steps), np.nan)
    if inside.any():
        profile_cost[inside] = 0.5 * np.sum(problem.residuals(line[inside]) ** 2, axis=1)
    if chain is not None and len(chain["draws"]) > 2:
        draws = chain["draws"]
        sd = draws.std(axis=0)
        corr = np.corrcoef(draws, rowvar=False) if np.all(sd > 0) else np.full((len(x), len(x)), np.nan)
    else:
        sd = np.sqrt(np.clip(np.diag(np.linalg.pinv(jac.T @ jac)), 0, None))
        cov = np.linalg.pinv(jac.T @ jac)
        corr = cov / np.outer(sd, sd)
    pairs = []
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            if np.isfinite(corr[i, j]) and abs(corr[i, j]) >= 0.7:
                pairs.append({"a": labels[i], "b": labels[j], "correlation": float(corr[i, j])})
    pairs.sort(key=lambda p: -abs(p["correlation"]))
    return {
        "on_bound": warnings,
        "labels": labels,
        "correlation": corr.tolist(),
        "strong_correlations": pairs,
        "hessian_eigenvalues": eigenvalues.tolist(),
        "worst_direction": {labels[k]: float(worst[k]) for k in np.argsort(-np.abs(worst))[:6]},
        "profile": {"step_in_bound_widths": steps.tolist(), "cost": profile_cost.tolist(), "best_cost": cost},
    }


def _carry_over(model: Model, problem: FitProblem, config: Config, x) -> dict:
    """Start-year-state parameters at the end of the window of the calibrated run, per element."""
    out = {}
    for name, (numerator, denominator) in config.carry_over.items():
        result = simulate(model, problem.inputs(x), config.grid, config.method, record=[numerator, denominator])
        size = model.size(numerator)
        ratio = [
            float(
                result.values[0, -1, result.column(numerator, k)] / result.values[0, -1, result.column(denominator, k)]
            )
            for k in range(size)
        ]
        out[name] = ratio
    return out


def _filtered_ensemble(problem: FitProblem, x, cov, cost, config: Config) -> dict:
    """FaIR-style constraint: draw from the Jacobian Gaussian (inside the bounds), keep the runs whose
    chi-square is within the 95 % bound of the best fit."""
    rng = np.random.default_rng(config.seed)
    draws = rng.multivariate_normal(x, cov, size=config.ensemble_samples, method="eigh", check_valid="ignore")
    inside = np.all((draws >= problem.lows) & (draws <= problem.highs), axis=1)
    draws = draws[inside]
    if not len(draws):
        return {"accepted": np.zeros((0, len(x))), "drawn": config.ensemble_samples, "threshold": None}
    chi2 = np.sum(problem.residuals(draws) ** 2, axis=1)
    threshold = 2 * cost + stats.chi2.ppf(0.95, len(x))
    accepted = draws[chi2 <= threshold]
    return {
        "accepted": accepted,
        "drawn": config.ensemble_samples,
        "inside_bounds": int(inside.sum()),
        "threshold": float(threshold),
    }


# ------------------------------------------------------------------------------------------------
# outputs


def fit_records(config: Config, tables: list[pd.DataFrame]) -> list[dict]:
    out = []
    for target, table in zip(config.targets, tables):
        for city, rows in table.groupby("city", sort=False):
            record = {"series": target.series, "variable": target.variable, "transform": target.transform, "city": city}
            record.update(fit_statistics(rows.simulated.to_numpy(), rows.value.to_numpy()))
            record.update(
                year=int(rows.year.iloc[-1]),
                observed=float(rows.value.iloc[-1]),
                simulated=float(rows.simulated.iloc[-1]),
            )  # the last observation, shown when it is the only one
            out.append(record)
    return out


def _hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def fitted_document(config: Config, model: Model, result: dict) -> dict:
    values: dict[str, dict | float] = {}
    for f, value in zip(config.free, result["x"]):
        var = model.variables[f.name]
        if (len(f.elements) == model.size(f.name) and model.size(f.name) > 1) or not var.dims:
            values[f.name] = float(value)
        else:
            element = model.spec.elements(var.dims[0])[f.elements[0]]
            values.setdefault(f.name, {})[element] = float(value)
    for name, carried in result["carried"].items():
        var = model.variables[name]
        values[name] = dict(zip(model.spec.elements(var.dims[0]), carried)) if var.dims else carried[0]
    return {
        "calibration": {
            "config": display_path(config.path),
            "config_sha256": hashlib.sha256(config.text.encode()).hexdigest()[:16],
            "data": display_path(config.data_path),
            "data_sha256": _hash(config.data_path),
            "date": date.today().isoformat(),
            "window": [config.grid.start, config.grid.end],
            "cost": result["cost"],
            "residuals": result["m"],
            "free": result["n"],
            "carried_over": {
                name: f"the {config.grid.end:g} value of {a}/{b} in the calibrated run (for "
                f"{config.grid.start:g}: {_fitted_value(config, result, name)})"
                for name, (a, b) in config.carry_over.items()
            },
            # fitted numbers whose parameters carry the window's end value: the value fitted for the window start
            "fitted_for_window_start": {
                f.label: float(v) for f, v in zip(config.free, result["x"]) if f.name in config.carry_over
            },
        },
        "parameters": values,
    }


def window_start_values(config: Config, fitted: dict) -> np.ndarray:
    """The fitted numbers as the calibration fitted them (for the start of its window), from a fitted
    document: the parameters, except carried-over ones, which hold their window-end value there."""
    start = fitted["calibration"].get("fitted_for_window_start", {})
    values = fitted["parameters"]
    return np.array(
        [
            start[f.label]
            if f.label in start
            else values[f.name][f.label.split("[")[1][:-1]]
            if isinstance(values[f.name], dict)
            else values[f.name]
            for f in config.free
        ]
    )


def _fitted_value(config: Config, result: dict, name: str) -> str:
    fitted = ", ".join(f"{v:.4g}" for f, v in zip(config.free, result["x"]) if f.name == name)
    if fitted:
        return f"fitted {fitted}"
    where = display_path(config.scenario_path) if config.scenario_path else "the model's declared value"
    return f"not fitted, from {where}"


def posterior_table(config: Config, model: Model, result: dict) -> pd.DataFrame:
    """The retained posterior draws as a projection from the window's end uses them: a column per fitted
    number, named as a scenario's uncertain target (``tfp_growth[hohhot]``, ``capital_elasticity``), in the
    parameter's declared units; carried-over start-state parameters converted per draw as the fitted file
    converts the best fit (their end-of-window value in that draw's run)."""
    chain = result.get("posterior")
    draws = chain["draws"] if chain is not None else result["ensemble"]["accepted"]
    labels = [f.label for f in config.free]
    table = pd.DataFrame(draws, columns=labels)
    if config.carry_over and len(draws):
        problem = result["problem"]
        for name, (numerator, denominator) in config.carry_over.items():
            run = simulate(
                model,
                problem.inputs(draws),
                config.grid,
                config.method,
                record=[numerator, denominator],
                on_error="nan",
            )
            table = table.drop(columns=[f.label for f in config.free if f.name == name])
            var = model.variables[name]
            elements = model.spec.elements(var.dims[0]) if var.dims else [None]
            for k, element in enumerate(elements):
                ratio = run.values[:, -1, run.column(numerator, k)] / run.values[:, -1, run.column(denominator, k)]
                table[f"{name}[{element}]" if element else name] = ratio
    return table


def uncertain_document(config: Config, model: Model, result: dict, posterior_file: str | None = None) -> dict:
    """The ``uncertain:`` block a Monte Carlo scenario extends: the posterior draws (jointly, one row per run)
    when they were written, else independent marginals."""
    if posterior_file:
        return {"uncertain": {"posterior": {"draws": posterior_file}}}
    return _marginal_uncertain_document(config, model, result)


def _marginal_uncertain_document(config: Config, model: Model, result: dict) -> dict:
    """Independent truncated-normal marginals of the posterior (the form used before joint draws)."""
    chain = result.get("posterior")
    accepted = chain["draws"] if chain is not None else result["ensemble"]["accepted"]
    block = {}
    for j, (f, value) in enumerate(zip(config.free, result["x"])):
        sd = float(np.std(accepted[:, j])) if len(accepted) > 10 else float(result["sd_jacobian"][j])
        mean = float(np.mean(accepted[:, j])) if len(accepted) > 10 else float(value)
        key = f.label if len(f.elements) == 1 and model.variables[f.name].dims else f.name
        if sd <= 0 or not math.isfinite(sd) or f.name in config.carry_over:
            continue  # a carried-over state is not the fitted number: its uncertainty is not this one
        block[key] = {"dist": "truncnormal", "mean": mean, "sd": sd, "low": f.low, "high": f.high}
    return {"uncertain": block}


def write_outputs(folder: Path, config: Config, model: Model, result: dict):
    """fitted.yaml, uncertain.yaml, posterior.csv, fit.json, identifiability.json, posterior_samples.csv
    (the FaIR-filtered Jacobian ensemble), fit.png and report.md."""
    import yaml

    from ..files import write_json
    from ..present import plots

    fitted = fitted_document(config, model, result)
    uncertain = uncertain_document(config, model, result, "posterior.csv")
    header = (
        f"# Fitted by `simulate calibrate {display_path(config.path)}` on {fitted['calibration']['date']}.\n"
        "# Scenarios read it with parameters_from:. Regenerate with the same command; do not edit by hand.\n"
    )
    (folder / "fitted.yaml").write_text(header + yaml.safe_dump(fitted, sort_keys=False), encoding="utf-8")
    (folder / "uncertain.yaml").write_text(
        "# Calibrated parameter uncertainty: extend it from a Monte Carlo scenario (extends: [..., this file]).\n"
        + yaml.safe_dump(uncertain, sort_keys=False),
        encoding="utf-8",
    )
    records = fit_records(config, result["tables"])
    write_json(records, folder / "fit.json")
    accepted = result["ensemble"]["accepted"]
    pd.DataFrame(accepted, columns=[f.label for f in config.free]).to_csv(folder / "posterior_samples.csv", index=False)
    posterior_table(config, model, result).to_csv(folder / "posterior.csv", index=False, float_format="%.8g")
    write_json(_diagnostics_record(config, result), folder / "identifiability.json")
    plots.calibration_fit(config, result, path=folder / "fit.png")
    (folder / "report.md").write_text(calibration_report(config, model, result, records), encoding="utf-8")


def _diagnostics_record(config: Config, result: dict) -> dict:
    out = dict(result["identifiability"])
    chain = result.get("posterior")
    if chain is not None:
        labels = [f.label for f in config.free]
        out["posterior"] = {
            "walkers": chain["walkers"],
            "steps": chain["steps"],
            "burn": chain["burn"],
            "thin": chain["thin"],
            "draws": len(chain["draws"]),
            "acceptance": chain["acceptance"],
            "likelihood_scale": chain["scale"],
            "rhat": dict(zip(labels, map(_finite, chain["rhat"]))),
            "ess": dict(zip(labels, map(_finite, chain["ess"]))),
            "tau": dict(zip(labels, map(_finite, chain["tau"]))),
        }
    return out


def _finite(v):
    v = float(v)
    return v if math.isfinite(v) else None


def calibration_report(config: Config, model: Model, result: dict, records: list[dict]) -> str:
    def f(x):
        return "–" if x is None else f"{x:.3f}"

    lines = [
        f"# Calibration `{config.name}`",
        "",
        config.description.strip(),
        "",
        f"Window {config.grid.start:g}–{config.grid.end:g} ({config.method.upper()}, dt {config.grid.dt:g}); "
        f"{result['m']} scaled residuals, {result['n']} free numbers; best cost (half chi-square) "
        f"{result['cost']:.4g} from {config.starts} starts.",
        "",
        "## Fit (fractions: a MAPE of 0.02 is 2 %)",
        "",
        "| series | city | n | MAPE | RMSPE | R² | U_M | U_S | U_C |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        lines.append(
            f"| {r['series']} | {r['city']} | {r['n']} | {f(r['mape'])} | {f(r['rmspe'])} | {f(r['r2'])} | "
            f"{f(r['theil_um'])} | {f(r['theil_us'])} | {f(r['theil_uc'])} |"
        )
    single = [r for r in records if r["n"] == 1]
    if single:  # one observation per city (a census): the numbers themselves
        lines += [
            "",
            "Targets observed once (the censuses), observed and fitted:",
            "",
            "| series | city | year | observed | fitted | fitted - observed |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['series']} | {r['city']} | {r['year']} | {r['observed']:.5g} | {r['simulated']:.5g} | "
            f"{r['simulated'] - r['observed']:+.3g} |"
            for r in single
        ]
    ens = result["ensemble"]
    lines += [
        "",
        "## Fitted values",
        "",
        "| parameter | fitted | ± (filtered ensemble sd) | default | bounds | default's source |",
        "|---|---|---|---|---|---|",
    ]
    accepted = ens["accepted"]
    for j, (fr, value) in enumerate(zip(config.free, result["x"])):
        sd = np.std(accepted[:, j]) if len(accepted) > 10 else result["sd_jacobian"][j]
        source = " ".join(model.variables[fr.name].source.split())[:120]
        lines.append(
            f"| {fr.label} | {value:.5g} | {sd:.2g} | {fr.default:.5g} | [{fr.low:g}, {fr.high:g}] | {source} |"
        )
    lines += [
        "",
        f"Jacobian check: {ens['drawn']} draws from the Jacobian Gaussian, "
        f"{ens.get('inside_bounds', 0)} inside "
        f"the bounds, {len(accepted)} accepted (chi-square within the 95 % bound of the best fit, threshold "
        f"{ens['threshold'] if ens['threshold'] is None else round(ens['threshold'], 2)}).",
        "",
    ]
    lines += _posterior_lines(config, result) + _identifiability_lines(result["identifiability"])
    return "\n".join(lines)


def _posterior_lines(config: Config, result: dict) -> list[str]:
    chain = result.get("posterior")
    if chain is None:
        return []
    lines = [
        "## Posterior (emcee)",
        "",
        f"{chain['walkers']} walkers x {chain['steps']} steps, burn-in {chain['burn']} discarded, thinned by "
        f"{chain['thin']}: {len(chain['draws'])} draws (`posterior.csv`, a row per draw). Likelihood tempered by "
        f"the reduced chi-square {chain['scale']:.2f}. Mean acceptance {chain['acceptance']:.2f}; "
        "split R-hat over "
        "4 walker groups (want < 1.1); ESS from the integrated autocorrelation time.",
        "",
        "| parameter | posterior median | 5 % | 95 % | R-hat | ESS |",
        "|---|---|---|---|---|---|",
    ]
    draws = chain["draws"]
    for j, f in enumerate(config.free):
        q = np.percentile(draws[:, j], [50, 5, 95])
        lines.append(
            f"| {f.label} | {q[0]:.4g} | {q[1]:.4g} | {q[2]:.4g} | {chain['rhat'][j]:.3f} | {chain['ess'][j]:.0f} |"
        )
    return lines + [""]


def _identifiability_lines(ident: dict) -> list[str]:
    lines = ["## Identifiability", ""]
    if ident["on_bound"]:
        lines += [f"- WARNING: {w['reason']}" for w in ident["on_bound"]]
    else:
        lines.append("- No fitted number is on a bound.")
    if ident["strong_correlations"]:
        lines.append(
            "- Strong posterior correlations (|r| >= 0.7), trade-offs the data do not resolve: "
            + "; ".join(f"{p['a']} ~ {p['b']} {p['correlation']:+.2f}" for p in ident["strong_correlations"][:10])
        )
    ev = ident["hessian_eigenvalues"]
    lines.append(
        f"- Gauss-Newton Hessian (parameters in bound widths): eigenvalues {ev[0]:.3g} ... {ev[-1]:.3g} "
        f"(condition {ev[-1] / max(ev[0], 1e-300):.3g}). Worst-determined direction: "
        + ", ".join(f"{k} {v:+.2f}" for k, v in ident["worst_direction"].items())
    )
    prof = ident["profile"]
    pts = [f"{s:+.2f}: {c:.4g}" for s, c in zip(prof["step_in_bound_widths"], prof["cost"]) if c == c][::4]
    lines.append(
        f"- Cost along that direction (step in bound widths: cost; best {prof['best_cost']:.4g}): " + ", ".join(pts)
    )
    return lines + [""]


def calibration_outputs(config_path: Path, out: Path | None, overwrite: bool, say=print) -> None:
    """``simulate calibrate``: fit, write the report to ``out`` (default outputs/calibration_NAME) and, unless
    ``out`` was given (a trial fit), the committed fitted files the scenarios read."""
    from ..files import check_target, staging

    model = load_model()
    config = load_config(config_path, model)
    folder = out or Path("outputs") / f"calibration_{config.name}"
    check_target(folder, overwrite, "--out" if out else "output folder")  # before the long fit
    say(
        f"calibrating {len(config.free)} numbers against {sum(len(t.rows) for t in config.targets)} observations "
        f"({config.grid.start:g}-{config.grid.end:g}) ..."
    )
    result = calibrate(config, model, say)
    with staging(folder, overwrite) as tmp:
        write_outputs(tmp, config, model, result)
    if out:  # a trial fit: everything stays in DIR, the committed fit is not touched
        say(
            f"cost {result['cost']:.4g}; fitted parameters and report in {folder}/ "
            f"({display_path(config.fitted_path)} left as it was)"
        )
        return
    update_fitted_files(config, model, result)
    say(f"cost {result['cost']:.4g}; fitted parameters in {display_path(config.fitted_path)}; report in {folder}/")


def fitted_paths(config: Config) -> dict[str, Path]:
    stem = config.fitted_path.stem
    return {
        "fitted": config.fitted_path,
        "uncertain": config.fitted_path.with_name(stem + "_uncertain.yaml"),
        "posterior": config.fitted_path.with_name(stem + "_posterior.csv"),
    }


def update_fitted_files(config: Config, model: Model, result: dict):
    """The fitted file scenarios read, its uncertainty and its posterior draws beside it, each written atomically."""
    import yaml

    paths = fitted_paths(config)
    fitted = fitted_document(config, model, result)
    uncertain = uncertain_document(config, model, result, paths["posterior"].name)
    header = (
        f"# Fitted by `simulate calibrate {display_path(config.path)}` on {fitted['calibration']['date']}.\n"
        "# Scenarios read it with parameters_from:. Regenerate with the same command; do not edit by hand.\n"
    )
    texts = {
        "fitted": header + yaml.safe_dump(fitted, sort_keys=False),
        "uncertain": "# Calibrated parameter uncertainty: extend it from a Monte Carlo scenario "
        "(extends: [..., this file]).\n" + yaml.safe_dump(uncertain, sort_keys=False),
        "posterior": posterior_table(config, model, result).to_csv(index=False, float_format="%.8g"),
    }
    for key, path in paths.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp_path = path.with_name(path.name + ".tmp")
        tmp_path.write_text(texts[key], encoding="utf-8")
        tmp_path.replace(path)
