"""The chi-square tail and the distances, against closed forms and Deequ's published vectors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from driftcheck.distances import c_alpha, linf_frequencies, robust
from driftcheck.stats import chi2_isf, chi2_sf, gamma_q


def even_df_sf(x: float, df: int) -> float:
    """The exact chi-square tail for even df: exp(-x/2) * sum_{k < df/2} (x/2)^k / k!."""
    half = x / 2
    return math.exp(-half) * sum(half**k / math.factorial(k) for k in range(df // 2))


@pytest.mark.parametrize(
    ("statistic", "df", "p_value"),
    [(3.84146, 1, 0.05), (18.307, 10, 0.05), (6.6349, 1, 0.01), (124.342, 100, 0.05)],
)
def test_chi_square_tails_match_the_tables(statistic: float, df: int, p_value: float) -> None:
    assert chi2_sf(statistic, df) == pytest.approx(p_value, abs=2e-5)


@pytest.mark.parametrize("df", [2, 4, 10, 50, 200])
@pytest.mark.parametrize("ratio", [0.1, 0.5, 1.0, 1.5, 3.0])
def test_chi_square_tails_match_the_closed_form_for_even_df(df: int, ratio: float) -> None:
    x = ratio * df

    assert chi2_sf(x, df) == pytest.approx(even_df_sf(x, df), rel=1e-10, abs=1e-300)


def test_a_zero_statistic_has_p_value_one_and_infinity_zero() -> None:
    assert chi2_sf(0.0, 1) == 1.0
    assert chi2_sf(0.0, 37) == 1.0
    assert gamma_q(3.0, math.inf) == 0.0


def test_the_critical_value_inverts_the_tail() -> None:
    for df in (1, 4, 9, 99):
        assert chi2_sf(chi2_isf(0.003, df), df) == pytest.approx(0.003, rel=1e-9)
    assert chi2_isf(0.05, 1) == pytest.approx(3.841458820694124, rel=1e-9)


def test_deequs_chi_square_vector() -> None:
    # Deequ KLLDistanceTest: {a:207,b:20,c:25,d:14,e:25} vs {a:223,b:20,c:25,d:12,e:13};
    # Deequ observes its first argument and expects the second, scaled to the same total.
    observed = np.array([207, 20, 25, 14, 25], dtype=float)
    reference = np.array([223, 20, 25, 12, 13], dtype=float)
    expected = reference / reference.sum() * observed.sum()
    statistic = float(np.sum((observed - expected) ** 2 / expected))

    assert chi2_sf(statistic, 4) == pytest.approx(0.013227994814265176, rel=1e-9)


def test_deequs_categorical_linf_vectors() -> None:
    s1 = {"a": 10, "b": 20, "c": 25, "d": 10, "e": 5}
    s2 = {"a": 11, "b": 20, "c": 25, "d": 10, "e": 10}
    s3 = {"f": 11, "a": 20, "c": 25, "d": 10, "e": 10}
    t1 = {"a": 207, "b": 20, "c": 25, "d": 14, "e": 25, "g": 13}
    t2 = {"a": 22, "b": 20, "c": 25, "d": 12, "e": 13, "f": 15}
    n, m = float(sum(t1.values())), float(sum(t2.values()))

    assert linf_frequencies(s1, s2) == 0.06015037593984962
    assert robust(linf_frequencies(s1, s2), 70, 76) == 0.0
    assert linf_frequencies(s1, s3) == 0.2857142857142857
    assert robust(linf_frequencies(t1, t2), n, m, c_alpha(0.003)) == 0.2726338046550349
    assert robust(linf_frequencies(t1, t2), n, m, c_alpha(0.1)) == 0.33774199396969184


def test_gamma_q_refuses_impossible_arguments() -> None:
    with pytest.raises(ValueError):
        gamma_q(0.0, 1.0)
    with pytest.raises(ValueError):
        gamma_q(1.0, -1.0)
