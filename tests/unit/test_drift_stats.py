"""The chi-square and Kolmogorov tails and the distances, against closed forms, published values
and Deequ's vectors; the two-sample tests of the false-alarm budget against scipy's values
(computed once, written here: scipy is no dependency of the engine) and under the null."""

from __future__ import annotations

import math

import numpy as np
import pytest
from driftcheck.distances import c_alpha, homogeneity, linf_frequencies, robust
from driftcheck.stats import chi2_isf, chi2_sf, gamma_q, kolmogorov_sf, ks_p_value
from hypothesis import given
from hypothesis import strategies as st


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


# -- the false-alarm budget's tests ----------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "tail"),
    [
        (0.5, 0.9639452436648751),
        (0.8, 0.5441424115741981),
        (1.0, 0.26999967167735456),
        (1.2238, 0.10002342783567782),
        (1.3581, 0.0499996304316674),
        (1.6276, 0.010001537333060776),
        (1.8, 0.003067621347579706),
        (2.0, 0.0006709252557796953),
        (2.5, 7.453306344157342e-06),
        (3.0, 3.045995948942526e-08),
        (4.0, 2.532833109818835e-14),
    ],
)
def test_the_kolmogorov_tail_matches_scipy(x: float, tail: float) -> None:
    # scipy.special.kolmogorov(x); 1.3581 is the textbook 5% critical value, 1.8 Deequ's
    assert kolmogorov_sf(x) == pytest.approx(tail, rel=1e-12)


@given(st.floats(0.01, 6.0), st.floats(0.0, 1.0))
def test_the_kolmogorov_tail_falls_from_one_to_zero(x: float, step: float) -> None:
    assert 0.0 <= kolmogorov_sf(x + step) <= kolmogorov_sf(x) <= 1.0
    assert kolmogorov_sf(0.0) == 1.0


def test_the_kolmogorov_tails_two_series_meet() -> None:
    # Jacobi's series below 1.18, the alternating one above: no step where they hand over
    below, above = kolmogorov_sf(1.18 - 1e-12), kolmogorov_sf(1.18)
    assert below == pytest.approx(above, rel=1e-10)


def test_the_two_sample_ks_p_value_uses_the_effective_sample_size() -> None:
    # D = 0.145 between 300 and 200 values: n m / (n + m) = 120, sqrt(120) D = 1.5884
    assert ks_p_value(0.145, 300, 200) == pytest.approx(0.012870040816792237, rel=1e-12)
    # (scipy's ks_2samp(method="asymp") says 0.0115: the exact one-sample law at n = 120; the
    # limit errs on the safe side)
    assert ks_p_value(0.145, 0, 200) == 1.0  # nothing to compare with


@pytest.mark.parametrize(
    ("baseline", "window", "statistic", "df"),
    [
        ([10, 20, 30], [6, 9, 17], 0.27157465150403504, 2),
        ([120, 80, 60, 40], [30, 25, 30, 15], 5.564213564213564, 3),
    ],
)
def test_the_homogeneity_test_is_pearsons_on_the_contingency_table(
    baseline: list[int], window: list[int], statistic: float, df: int
) -> None:
    # scipy.stats.chi2_contingency([baseline, window], correction=False)
    found, dof = homogeneity(np.array(baseline, dtype=float), np.array(window, dtype=float))

    assert found == pytest.approx(statistic, rel=1e-12) and dof == df


def test_two_shares_reduce_to_the_two_proportion_z_test() -> None:
    # 2 cells: the statistic is z^2 of the difference of two proportions, pooled
    n, m, b, w = 4000, 250, 0.3, 0.38
    pooled = (n * b + m * w) / (n + m)
    z2 = (w - b) ** 2 / (pooled * (1 - pooled) * (1 / n + 1 / m))

    statistic, df = homogeneity(np.array([n * b, n * (1 - b)]), np.array([m * w, m * (1 - w)]))

    assert statistic == pytest.approx(z2, rel=1e-12) and df == 1


def test_cells_too_sparse_for_the_approximation_are_pooled_smallest_first() -> None:
    # Given two rare categories the window expects well under 5 values of, each and together
    baseline = np.array([1000.0, 1000.0, 3.0, 2.0])
    window = np.array([100.0, 100.0, 0.0, 1.0])

    # When they are tested
    statistic, df = homogeneity(baseline, window)

    # Then they are merged with each other, then with the next smallest (Cochran's rule: 5
    # expected values at least): two cells are left
    merged = homogeneity(np.array([1000.0, 1005.0]), np.array([100.0, 101.0]))
    assert statistic == pytest.approx(merged[0], rel=1e-12) and df == merged[1] == 1
    # and a single value never seen before is no evidence on its own
    assert homogeneity(np.array([500.0, 0.0]), np.array([49.0, 1.0])) == (0.0, 0)


counts = st.lists(st.integers(0, 400), min_size=2, max_size=12)


@given(counts, counts, st.data())
def test_the_homogeneity_test_ignores_the_cells_order(
    baseline: list[int], window: list[int], data: st.DataObject
) -> None:
    size = min(len(baseline), len(window))
    b, w = np.array(baseline[:size], dtype=float), np.array(window[:size], dtype=float)
    order = data.draw(st.permutations(range(size)))

    statistic, df = homogeneity(b, w)
    again, df_again = homogeneity(b[order], w[order])

    assert df == df_again and again == pytest.approx(statistic, rel=1e-9, abs=1e-12)
    assert statistic >= 0.0 and 0 <= df < size


@given(st.lists(st.integers(1, 50), min_size=2, max_size=12), st.integers(1, 20))
def test_the_same_shares_in_both_samples_are_no_difference(shares: list[int], factor: int) -> None:
    b = np.array(shares, dtype=float)
    statistic, _ = homogeneity(b, b * factor)
    assert statistic == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize(
    ("shares", "n", "m"),
    [
        ([0.13, 0.14, 0.15, 0.15, 0.16, 0.14, 0.13], 6000, 40),  # taxi's weekdays
        (list(1 / np.arange(1, 31) ** 1.1), 50_000, 60),  # a long tail of rare categories
        ([0.1] * 10, 6000, 50),  # PSI's deciles, 5 values expected in each
    ],
)
def test_the_homogeneity_test_rejects_unchanged_samples_at_its_level(
    shares: list[float], n: int, m: int
) -> None:
    # Given 3,000 pairs of samples of one distribution
    rng = np.random.default_rng(11)
    p = np.asarray(shares) / np.sum(shares)
    draws = 3000

    # When each pair is tested at the 5% level
    rejected = 0
    for _ in range(draws):
        statistic, df = homogeneity(
            rng.multinomial(n, p).astype(float), rng.multinomial(m, p).astype(float)
        )
        rejected += bool(df) and chi2_sf(statistic, df) <= 0.05

    # Then about 5% are rejected, not more (3.5 standard errors above: 6.4%)
    assert rejected / draws <= 0.05 + 3.5 * math.sqrt(0.05 * 0.95 / draws)
