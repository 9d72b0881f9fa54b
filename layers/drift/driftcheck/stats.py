"""The tails of the chi-square and Kolmogorov distributions, without scipy.

scipy would cost a Lambda tens of megabytes and most of a second to import for two functions,
so the regularized upper incomplete gamma function is computed here the Numerical Recipes way:
a power series below x = a + 1, a continued fraction (modified Lentz) above, both to double
precision; and the Kolmogorov distribution by its two classic series, each where it converges
in a few terms.
"""

from __future__ import annotations

import math

_EPSILON = 1e-15
_TINY = 1e-300
_MAX_TERMS = 100_000


def gamma_q(a: float, x: float) -> float:
    """Q(a, x) = Gamma(a, x) / Gamma(a), the regularized upper incomplete gamma function."""
    if not (a > 0 and math.isfinite(a)) or not (x >= 0):
        raise ValueError(f"gamma_q needs a > 0 and x >= 0 (got a={a}, x={x})")
    if x == 0:
        return 1.0
    if math.isinf(x):
        return 0.0
    if x < a + 1:
        return max(0.0, 1.0 - _lower_series(a, x))
    return min(1.0, _upper_fraction(a, x))


def chi2_sf(statistic: float, df: int) -> float:
    """P(X >= statistic) for X ~ chi-square with df degrees of freedom (the p-value)."""
    if df < 1:
        raise ValueError(f"chi-square needs df >= 1 (got {df})")
    return gamma_q(df / 2.0, max(statistic, 0.0) / 2.0)


def chi2_isf(p_value: float, df: int) -> float:
    """The statistic whose p-value is p_value: the critical value of the test at that level.

    Bisection on chi2_sf, which is monotone; used to state a chi-square verdict as "statistic
    exceeds critical value", the form of Model Monitor's drift violation text.
    """
    if not 0.0 < p_value < 1.0:
        raise ValueError(f"p_value must be strictly between 0 and 1 (got {p_value})")
    low, high = 0.0, max(float(df), 1.0)
    while chi2_sf(high, df) > p_value:
        low, high = high, high * 2.0
    for _ in range(200):
        middle = (low + high) / 2.0
        if chi2_sf(middle, df) > p_value:
            low = middle
        else:
            high = middle
        if high - low <= 1e-12 * high:
            break
    return high


def kolmogorov_sf(x: float) -> float:
    """P(K > x) for K, the Kolmogorov distribution: the limit of sqrt(n) * D_n, the largest
    gap between an empirical CDF of n values and the true one.

    Below x = 1.18 Jacobi's form, 1 - sqrt(2 pi) / x * sum exp(-(2k - 1)^2 pi^2 / (8 x^2)),
    converges in a few terms, where the alternating series 2 * sum (-1)^(k-1) exp(-2 k^2 x^2)
    would need many; above it the alternating series does. Six terms of either reach double
    precision (the next is below 1e-30 of the first).
    """
    if not x > 0:
        return 1.0
    if x < 1.18:
        exponent = -(math.pi**2) / (8.0 * x * x)
        terms = sum(math.exp((2 * k - 1) ** 2 * exponent) for k in range(1, 7))
        return min(1.0, max(0.0, 1.0 - math.sqrt(2.0 * math.pi) / x * terms))
    terms = sum((-1.0) ** (k - 1) * math.exp(-2.0 * k * k * x * x) for k in range(1, 7))
    return min(1.0, 2.0 * terms)


def ks_p_value(distance: float, n: float, m: float) -> float:
    """The two-sample Kolmogorov-Smirnov test's p-value of an L-infinity distance between the
    CDFs of n and m values: how likely two samples of one distribution are this far apart.

    Asymptotic (the Kolmogorov distribution at sqrt(n m / (n + m)) * distance), which errs on
    the safe side for finite samples, for whole numbers (ties), and for a distance read at
    some points of the CDFs only (the baseline's sketch values): each makes the true
    distribution of the distance smaller than the limit's, so the p-value larger."""
    if n <= 0 or m <= 0:
        return 1.0
    return kolmogorov_sf(math.sqrt(n * m / (n + m)) * distance)


def _prefactor(a: float, x: float) -> float:
    return math.exp(-x + a * math.log(x) - math.lgamma(a))


def _lower_series(a: float, x: float) -> float:
    """P(a, x) by its power series; converges fast for x < a + 1."""
    term = total = 1.0 / a
    denominator = a
    for _ in range(_MAX_TERMS):
        denominator += 1.0
        term *= x / denominator
        total += term
        if abs(term) < abs(total) * _EPSILON:
            break
    return total * _prefactor(a, x)


def _upper_fraction(a: float, x: float) -> float:
    """Q(a, x) by its continued fraction (modified Lentz); converges fast for x > a + 1."""
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, _MAX_TERMS):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        if abs(d) < _TINY:
            d = _TINY
        c = b + an / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPSILON:
            break
    return _prefactor(a, x) * h
