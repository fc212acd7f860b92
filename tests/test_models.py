"""Buy-till-you-die and renewal models: the published estimates on the published data, analytic
gradients against finite differences, recovery of known parameters from simulated customers,
and properties of the predictions."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tenure.errors import ModelError
from tenure.models import bgnbd, gamma_gamma, sbg
from tenure.models.bgnbd import BGNBD
from tenure.models.gamma_gamma import GammaGamma
from tenure.models.pareto_nbd import ParetoNBD
from tenure.models.rfm import histories
from tenure.models.sbg import SBG


def _cdnow(name: str) -> pd.DataFrame:
    """The CDNOW sample (2,357 customers, 39-week calibration) as shipped by `lifetimes`."""
    spec = importlib.util.find_spec("lifetimes")
    assert spec is not None and spec.origin is not None
    return pd.read_csv(Path(spec.origin).parent / "datasets" / name)


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return _cdnow("cdnow_customers_summary.csv")


def test_bgnbd_reproduces_fader_hardie_lee_2005_on_cdnow(cdnow: pd.DataFrame) -> None:
    """ "Counting Your Customers the Easy Way": r = 0.243, alpha = 4.414, a = 0.793, b = 2.426,
    LL = -9582.4; a customer with x = 2, t_x = 30.43, T = 38.86 makes 1.226 purchases in the
    next 39 weeks."""
    model = BGNBD.fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    assert round(model.r, 3) == 0.243
    assert round(model.alpha, 3) == 4.414
    assert round(model.a, 3) == 0.793
    assert round(model.b, 3) == 2.426
    assert round(model.log_likelihood, 1) == -9582.4
    assert round(float(model.conditional_expected_purchases(39, 2, 30.43, 38.86)), 3) == 1.226


def test_pareto_nbd_reproduces_the_published_cdnow_estimates(cdnow: pd.DataFrame) -> None:
    """Fader, Hardie and Lee (2005): r = 0.55, alpha = 10.58, s = 0.61, beta = 11.67,
    LL = -9595.0."""
    model = ParetoNBD.fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    assert (round(model.r, 2), round(model.alpha, 2)) == (0.55, 10.58)
    assert (round(model.s, 2), round(model.beta, 2)) == (0.61, 11.67)
    assert round(model.log_likelihood, 1) == -9595.0
    alive = model.p_alive([0, 2, 2], [0, 30.43, 5.0], [38.86, 38.86, 38.86])
    assert alive[1] > alive[2]  # the same purchases, longer ago: less likely alive


def test_gamma_gamma_reproduces_the_published_cdnow_estimates() -> None:
    """Fader, Hardie and Lee, "RFM and CLV" (2005): p = 6.25, q = 3.74, gamma = 15.44 on the 946
    customers with repeat purchases."""
    data = _cdnow("cdnow_customers_summary_with_transactions.csv")
    model = GammaGamma.fit(data["x"], data["zbar"])
    assert model.customers == 946
    assert (round(model.p, 2), round(model.q, 2)) == (6.25, 3.74)
    assert model.v == pytest.approx(15.44, abs=0.01)
    # E(M | x, m) lies between the population mean and the customer's own mean.
    own = model.conditional_expected_value(2, 22.35)
    assert 22.35 < own < model.population_mean


@pytest.mark.parametrize(
    ("alive", "alpha", "beta"),
    [
        # Fader and Hardie, "How to Project Customer Retention" (2007), years 0-7 of 1,000.
        ([1000, 869, 743, 653, 593, 551, 517, 491], 0.668, 3.806),  # high end
        ([1000, 631, 468, 382, 326, 289, 262, 241], 0.704, 1.182),  # regular
    ],
)
def test_sbg_reproduces_fader_hardie_2007(alive: list[int], alpha: float, beta: float) -> None:
    model = SBG.fit([alive])
    assert (round(model.alpha, 3), round(model.beta, 3)) == (alpha, beta)
    # The fitted curve stays within two points of what was observed through year 7.
    assert np.abs(model.survival(7) * 1000 - np.array(alive)).max() < 20


def test_sbg_residual_lifetime_matches_its_definition_summed_directly() -> None:
    model = SBG(0.704, 1.182)
    survival = model.survival(5000)
    for renewals in (0, 1, 4):
        t = np.arange(renewals + 1, 5000)
        direct = np.sum(survival[t] / survival[renewals] / 1.1 ** (t - renewals - 1))
        closed = model.discounted_expected_residual_lifetime(0.1, renewals)
        assert closed == pytest.approx(direct, rel=1e-9)
    # Survivors are the loyal ones: the longer the tenure, the longer the expected residual life.
    assert model.discounted_expected_residual_lifetime(
        0.1, 4
    ) > model.discounted_expected_residual_lifetime(0.1, 0)


def _numeric_gradient(function, params: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    gradient = np.empty(len(params))
    for i in range(len(params)):
        step = np.zeros(len(params))
        step[i] = 1e-6 * params[i]
        gradient[i] = (function(params + step)[0] - function(params - step)[0]) / (2 * step[i])
    return gradient


def test_analytic_gradients_match_finite_differences(cdnow: pd.DataFrame) -> None:
    data = histories(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    point = np.array([0.3, 5.0, 0.9, 2.0])
    analytic = bgnbd.log_likelihood(point, data)[1]
    numeric = _numeric_gradient(lambda p: bgnbd.log_likelihood(p, data), point)
    assert analytic == pytest.approx(numeric, rel=1e-5)

    spends = gamma_gamma.Spends(np.array([1.0, 2.0, 7.0, 2.0]), np.array([20.0, 35.5, 12.0, 4.0]))
    point = np.array([5.0, 3.0, 12.0])
    analytic = gamma_gamma.log_likelihood(point, spends)[1]
    numeric = _numeric_gradient(lambda p: gamma_gamma.log_likelihood(p, spends), point)
    assert analytic == pytest.approx(numeric, rel=1e-5)

    curves = [np.array([1000.0, 631, 468, 382]), np.array([500.0, 300])]
    point = np.array([0.7, 1.2])
    analytic = sbg.log_likelihood(point, curves)[1]
    numeric = _numeric_gradient(lambda p: sbg.log_likelihood(p, curves), point)
    assert analytic == pytest.approx(numeric, rel=1e-5)


def simulate_bgnbd(
    r: float, alpha: float, a: float, b: float, T: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Purchase histories drawn from the BG/NBD story: Poisson buying at a gamma-distributed
    rate, dropping out after each purchase with a beta-distributed probability."""
    rng = np.random.default_rng(seed)
    n = len(T)
    rate = rng.gamma(r, 1 / alpha, n)
    drop = rng.beta(a, b, n)
    x, t_x, clock = np.zeros(n), np.zeros(n), np.zeros(n)
    active = np.ones(n, dtype=bool)
    while active.any():
        clock[active] += rng.exponential(1 / np.maximum(rate[active], 1e-12))
        bought = active & (clock <= T)
        x[bought] += 1
        t_x[bought] = clock[bought]
        active = bought & (rng.random(n) >= drop)
    return x, t_x


def test_bgnbd_recovers_the_parameters_it_simulated() -> None:
    T = np.random.default_rng(1).uniform(20, 60, 40_000)
    x, t_x = simulate_bgnbd(0.5, 6.0, 0.8, 2.5, T, seed=2)
    model = BGNBD.fit(x, t_x, T)
    assert model.r == pytest.approx(0.5, rel=0.08)
    assert model.alpha == pytest.approx(6.0, rel=0.12)
    assert model.a == pytest.approx(0.8, rel=0.2)
    assert model.b == pytest.approx(2.5, rel=0.25)
    # The fitted model predicts the simulated total of purchases per customer.
    assert float(model.expected_purchases(T).mean()) == pytest.approx(x.mean(), rel=0.03)


def test_gamma_gamma_and_sbg_recover_the_parameters_they_simulated() -> None:
    rng = np.random.default_rng(5)
    n = 20_000
    x = rng.integers(1, 12, n).astype(float)
    nu = rng.gamma(4.0, 1 / 20.0, n)  # q = 4, gamma = 20
    mean_value = rng.gamma(6.0 * x, 1 / (nu * x))  # the mean of x Gamma(p=6, nu) draws
    spend = GammaGamma.fit(x, mean_value)
    assert (spend.p, spend.q, spend.v) == pytest.approx((6.0, 4.0, 20.0), rel=0.1)

    theta = rng.beta(0.8, 2.0, n)
    lifetimes = rng.geometric(theta)  # the period in which each customer leaves
    alive = [int((lifetimes > t).sum()) for t in range(10)]
    renewals = SBG.fit([alive])
    assert (renewals.alpha, renewals.beta) == pytest.approx((0.8, 2.0), rel=0.15)


@example(r=0.5, alpha=5.0, a=1.0, b=2.0, x=3, recency_share=0.3, T=30.0)  # 0/0 at a = 1
@settings(max_examples=60, deadline=None)
@given(
    r=st.floats(0.1, 5),
    alpha=st.floats(0.5, 50),
    a=st.floats(0.1, 5),
    b=st.floats(0.1, 10),
    x=st.integers(0, 40),
    recency_share=st.floats(0, 1),
    T=st.floats(0.5, 200),
)
def test_bgnbd_predictions_are_probabilities_and_grow_with_the_horizon(
    r: float, alpha: float, a: float, b: float, x: int, recency_share: float, T: float
) -> None:
    model = BGNBD(r, alpha, a, b)
    t_x = recency_share * T if x > 0 else 0.0
    alive = float(model.p_alive(x, t_x, T))
    assert 0.0 <= alive <= 1.0
    horizons = np.array([1.0, 5.0, 20.0, 100.0])
    expected = model.conditional_expected_purchases(horizons, x, t_x, T)
    if a > 1:  # E[X] needs a > 1 for the closed form
        assert np.all(np.diff(model.expected_purchases(horizons)) > 0)
    assert np.all(np.isfinite(expected))
    assert np.all(np.diff(expected) >= -1e-9 * np.abs(expected[1:]))
    assert np.all(expected >= 0)


@settings(max_examples=40, deadline=None)
@given(
    r=st.floats(0.1, 5),
    alpha=st.floats(0.5, 50),
    s=st.floats(0.1, 5),
    beta=st.floats(0.5, 50),
    x=st.integers(0, 30),
    recency_share=st.floats(0, 1),
    T=st.floats(0.5, 100),
)
def test_pareto_nbd_p_alive_is_a_probability(
    r: float, alpha: float, s: float, beta: float, x: int, recency_share: float, T: float
) -> None:
    model = ParetoNBD(r, alpha, s, beta)
    t_x = recency_share * T if x > 0 else 0.0
    alive = float(model.p_alive(x, t_x, T))
    assert 0.0 <= alive <= 1.0 + 1e-9


@pytest.mark.parametrize(
    ("frequency", "recency", "T", "message"),
    [
        ([1, 2], [3.0, 9.0], [5.0, 8.0], "customer #1 .*recency is negative or greater than T"),
        ([1, -1], [1.0, 0.0], [5.0, 5.0], "customer #1 .*frequency is negative"),
        ([0, 1], [2.0, 1.0], [5.0, 5.0], "customer #0 .*recency is not 0"),
        ([0, 0], [0.0, 0.0], [5.0, 5.0], "no customer made a repeat purchase"),
        ([1, 0], [1.0, 0.0], [5.0, -1.0], "customer #1 .*T is negative"),
        ([1, 1], [1.0, 0.0], [5.0, 0.0], "customer #1 .*repeat purchases with T = 0"),
        ([], [], [], "no customers"),
    ],
)
def test_models_refuse_data_they_cannot_fit(
    frequency: list[int], recency: list[float], T: list[float], message: str
) -> None:
    with pytest.raises(ModelError, match=message):
        BGNBD.fit(frequency, recency, T)


def test_spend_and_renewal_models_refuse_data_they_cannot_fit() -> None:
    with pytest.raises(ModelError, match="at least two customers with repeat purchases"):
        GammaGamma.fit([0, 1], [0.0, 10.0])
    with pytest.raises(ModelError, match="repeat customer #1: the mean transaction value"):
        GammaGamma.fit([1, 2, 3], [5.0, -1.0, 3.0])
    with pytest.raises(ModelError, match="cohort #0: counts must start positive and never"):
        SBG.fit([[100, 80, 90]])
    with pytest.raises(ModelError, match="no customer ever churned"):
        SBG.fit([[100, 100, 100]])


@pytest.mark.parametrize("model", [BGNBD, ParetoNBD])
def test_a_customer_first_seen_on_the_last_day_fits_and_changes_nothing(
    model: type[BGNBD] | type[ParetoNBD], cdnow: pd.DataFrame
) -> None:
    """T = 0 (x = t_x = 0) has likelihood 1 under both models: it is accepted and leaves the
    estimates as they are."""
    base = model.fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    more = model.fit(
        [*cdnow["frequency"], 0, 0], [*cdnow["recency"], 0.0, 0.0], [*cdnow["T"], 0.0, 0.0]
    )
    for name, value in base.params.items():
        assert more.params[name] == pytest.approx(value, rel=1e-4)
