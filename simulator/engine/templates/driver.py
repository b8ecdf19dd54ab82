# The integrator driver, appended verbatim to every generated kernel (see codegen.py). It uses the
# names the generated part defines: initialise, rates, N_STATE, N_VAR, SLOW_STATE, SLOW_VAR, JIT, PARALLEL,
# njit, prange, np.
# ruff: noqa: F821
#
# Time grid: half steps h = 0, 1, 2, ... at t = t0 + h * dt / 2; Euler evaluates at even h,
# RK4 at h, h+1 (twice) and h+2. The partitioned method (method 2) is RK4 for every stock but the slow
# ones (SLOW_STATE), which take the midpoint rule: their rates, and what only they need (the SLOW_VAR
# slots), are evaluated at the step's first two stages and held over the last two (rates(..., full=False)
# skips them); the stage-2 rate moves them over the whole step, and their recorded flows are the
# stage-2 values (weights 0, dt/2, dt/3, dt/6), so their accounts close as the others' do. Time paths are
# read by calendar year (inputs.calendar_year): ``sg`` holds their values where a step starts, ``sge``
# where a step ends (they differ only at year boundaries), so a policy "from 2025" acts over all of
# 2025 and nowhere in 2024. An output row holds, for its save time: the stocks (rec_s); the flows and
# rates as their average over the interval that ends there (rec_mean), weighted as the integrator
# weights its stages, so a stock's change over an interval equals the sum of its recorded flows times
# the interval length (mass balance closes exactly); and levels (rec_point) as their value at the save
# time, from an evaluation at that state with the time paths of the year that ends there
# (levels_read_paths) — or, for levels that read no time path, from the next step's first evaluation,
# which is at that state and time. Row 0 holds the initial values. Under the partitioned method that
# save-time evaluation skips what only the slow stocks need unless a recorded level reads it
# (levels_read_slow): the rest reads none of it, so its values are the same. The row ends with the time
# paths recorded (rec_m, the parameter index of each one's multiplier): their values for the row, weighted
# as above but the same for every run (run.series_paths, ``paths``), times the run's multiplier.
#
# want[k] says whether the k-th reporting-only auxiliary (Model.reporting: read by no stock's rate) is
# computed: only when the run records it or a recorded report reads it.
#
# status per run: [0] 0 ok, 1 non-finite number; [1] the step; [2] the output column or -1 - state
# index that was not finite.


@njit(**JIT)
def _record(s, acc, rec_s, rec_mean, scale, row):
    n_s = rec_s.shape[0]
    for j in range(n_s):
        row[j] = s[rec_s[j]]
    for j in range(rec_mean.shape[0]):
        row[n_s + j] = acc[j] * scale
        acc[j] = 0.0


@njit(**JIT)
def _record_points(v, rec_point, start, row):
    for j in range(rec_point.shape[0]):
        row[start + j] = v[rec_point[j]]


@njit(**JIT)
def _accumulate(v, rec_mean, weight, acc, held, held_weight):
    # held columns (what only slow stocks need, partitioned): their own weight
    for j in range(rec_mean.shape[0]):
        acc[j] += (held_weight if held[j] else weight) * v[rec_mean[j]]


@njit(**JIT)
def _record_series(p, paths, rec_m, start, out):
    for row in range(out.shape[0]):
        for j in range(rec_m.shape[0]):
            out[row, start + j] = paths[row, j] * p[rec_m[j]]


@njit(**JIT)
def _first_nonfinite(x):
    for j in range(x.shape[0]):
        if not math.isfinite(x[j]):
            return j
    return -1


@njit(**JIT)
def run_one(
    p,
    sg,
    sge,
    lk,
    t0,
    dt,
    n_steps,
    steps_per_save,
    method,
    rec_s,
    rec_mean,
    rec_point,
    paths,
    rec_m,
    levels_read_paths,
    levels_read_slow,
    nonneg,
    want,
    out,
    status,
):
    """Integrate one run. out: (n_saves + 1, columns); status: (3,) int64."""
    s = np.zeros(N_STATE)
    v = np.zeros(N_VAR)
    k1 = np.zeros(N_STATE)
    k2 = np.zeros(N_STATE)
    k3 = np.zeros(N_STATE)
    k4 = np.zeros(N_STATE)
    stage = np.zeros(N_STATE)
    acc = np.zeros(rec_mean.shape[0])
    held = np.zeros(rec_mean.shape[0], dtype=np.bool_)
    if method == 2:
        for j in range(rec_mean.shape[0]):
            held[j] = SLOW_VAR[rec_mean[j]]
    half = 0.5 * dt
    save_length = steps_per_save * dt
    points_at = rec_s.shape[0] + rec_mean.shape[0]
    series_at = points_at + rec_point.shape[0]
    status[0] = 0
    initialise(t0, p, sge, lk, v, s)
    rates(t0, 0, p, sge, lk, v, s, k1, dt, want, True)
    _accumulate(v, rec_mean, 1.0, acc, held, 1.0)
    _record(s, acc, rec_s, rec_mean, 1.0, out[0])
    _record_points(v, rec_point, points_at, out[0])
    save = 0
    pending = -1  # a save row whose levels the next step's first evaluation gives
    for step in range(n_steps):
        h = 2 * step
        t = t0 + h * half
        rates(t, h, p, sg, lk, v, s, k1, dt, want, True)
        if pending >= 0:
            _record_points(v, rec_point, points_at, out[pending])
            pending = -1
        if method == 0:
            _accumulate(v, rec_mean, dt, acc, held, dt)
            for i in range(N_STATE):
                s[i] = s[i] + dt * k1[i]
        else:
            full = method == 1  # partitioned: stages 3 and 4 skip what only the slow stocks need
            _accumulate(v, rec_mean, dt / 6.0, acc, held, 0.0)
            for i in range(N_STATE):
                stage[i] = s[i] + half * k1[i]
            rates(t0 + (h + 1) * half, h + 1, p, sg, lk, v, stage, k2, dt, want, True)
            _accumulate(v, rec_mean, dt / 3.0, acc, held, 0.5 * dt)
            if not full:  # the slow stocks take the midpoint rule: their stage-2 rate over the whole step
                for i in SLOW_STATE:
                    k1[i] = k2[i]
                    k3[i] = k2[i]
                    k4[i] = k2[i]
            for i in range(N_STATE):
                stage[i] = s[i] + half * k2[i]
            rates(t0 + (h + 1) * half, h + 1, p, sg, lk, v, stage, k3, dt, want, full)
            _accumulate(v, rec_mean, dt / 3.0, acc, held, dt / 3.0)
            for i in range(N_STATE):
                stage[i] = s[i] + dt * k3[i]
            rates(t0 + (h + 2) * half, h + 2, p, sge, lk, v, stage, k4, dt, want, full)
            _accumulate(v, rec_mean, dt / 6.0, acc, held, dt / 6.0)
            for i in range(N_STATE):
                s[i] = s[i] + dt / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i])
        for i in range(N_STATE):
            if nonneg[i] and s[i] < 0.0:
                s[i] = 0.0
        bad = _first_nonfinite(s)
        if bad >= 0:
            status[0] = 1
            status[1] = step
            status[2] = -1 - bad
            return
        if (step + 1) % steps_per_save == 0:
            save += 1
            _record(s, acc, rec_s, rec_mean, 1.0 / save_length, out[save])
            if rec_point.shape[0] and (levels_read_paths or step == n_steps - 1):
                # levels at the save time: one more evaluation at that state, with the year's end paths
                rates(t0 + (h + 2) * half, h + 2, p, sge, lk, v, s, k1, dt, want, method != 2 or levels_read_slow)
                _record_points(v, rec_point, points_at, out[save])
            elif rec_point.shape[0]:  # levels that read no time path: the next step starts at this state
                pending = save
    for row in range(save + 1):
        bad = _first_nonfinite(out[row, :series_at])
        if bad >= 0:
            status[0] = 1
            status[1] = max(0, row * steps_per_save - 1)
            status[2] = bad
            return
    _record_series(p, paths, rec_m, series_at, out)


@njit(**PARALLEL)
def run_batch(
    params,
    sg,
    sge,
    lk,
    t0,
    dt,
    n_steps,
    steps_per_save,
    method,
    rec_s,
    rec_mean,
    rec_point,
    paths,
    rec_m,
    levels_read_paths,
    levels_read_slow,
    nonneg,
    want,
    out,
    status,
):
    """Integrate every row of params; runs are independent, so any thread count gives the same bits."""
    for r in prange(params.shape[0]):
        run_one(
            params[r],
            sg,
            sge,
            lk,
            t0,
            dt,
            n_steps,
            steps_per_save,
            method,
            rec_s,
            rec_mean,
            rec_point,
            paths,
            rec_m,
            levels_read_paths,
            levels_read_slow,
            nonneg,
            want,
            out[r],
            status[r],
        )
