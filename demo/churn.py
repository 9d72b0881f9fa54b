"""A synthetic subscription business for the churn classifier (`make demo MODEL=churn`):
customers with the features config/models.toml lists, in its order, and whether they left.

With a drift of 0 it is the business the champion learnt. A drift of 1 is some months later,
after a rival launched a cheaper plan: prices went up, more customers are on month-to-month
contracts and call support more, and those who pay the most now leave first. A model that
learnt "long contracts and long tenure stay" ranks the new leavers low; its AUC falls, and a
candidate that learnt from the window wins it back.
"""

from __future__ import annotations

import numpy as np

from demo.world import mix

FEATURES = (
    "tenure_months",
    "monthly_charges",
    "support_calls",
    "contract",
    "data_usage_gb",
    "paperless_billing",
)
# contract: 0 month-to-month, 1 one year, 2 two years; paperless_billing: 0 or 1.
CATEGORICAL = ("contract", "paperless_billing")


def customers(n: int, seed: int, drift: float = 0.0) -> np.ndarray:
    """n customers x FEATURES. `drift` in [0, 1] moves the business away from the training data."""
    rng = np.random.default_rng(seed)
    contract = rng.choice(3, size=n, p=mix([0.45, 0.30, 0.25], [0.75, 0.15, 0.10], drift))
    tenure = rng.gamma(shape=1.0 + contract, scale=14.0, size=n).clip(0, 72).round()
    charges = rng.normal(65 + 25 * drift, 18, n).clip(18, 130).round(2)
    calls = rng.poisson(1.0 + 1.5 * drift, n)
    usage = rng.lognormal(np.log(12), 0.6, n).clip(0, 200).round(1)
    paperless = (rng.random(n) < 0.55 + 0.1 * drift).astype(int)
    return np.column_stack([tenure, charges, calls, contract, usage, paperless])


def churned(rows: np.ndarray, seed: int, drift: float = 0.0) -> np.ndarray:
    """1 for a customer who left within the month, else 0. Before the rival's plan, customers
    leave early in their tenure, on short contracts, after calls to support; after it, price
    decides: the dearer the plan, the likelier they leave, whatever their contract."""
    return _left(rows, _score(rows, drift), seed)


def _left(rows: np.ndarray, score: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    left: np.ndarray = rng.random(len(rows)) < 1 / (1 + np.exp(-score))
    return left.astype(int)


def _score(rows: np.ndarray, drift: float) -> np.ndarray:
    """The log-odds of leaving, from the first six columns (FEATURES)."""
    tenure, charges, calls, contract, usage, paperless = rows[:, : len(FEATURES)].T
    habits = (
        0.5
        - 0.07 * tenure
        + 0.8 * calls
        - 1.4 * contract
        + 0.4 * paperless
        - 0.02 * usage
        + 0.01 * (charges - 65)
    )
    price = 0.2 * (charges - 90)
    # Drift moves the rule from habits to price: a model that learnt the habits ranks the new
    # leavers little better than chance, and only data from the changed world teaches price.
    score: np.ndarray = (1 - drift) * habits + drift * price
    return score


class Subscribers:
    """The churn classifier's world, for the demo (demo.world.World)."""

    features: tuple[str, ...] = FEATURES
    categorical: tuple[str, ...] = CATEGORICAL
    noun = "customers"
    labels_are = "outcomes (left or stayed)"

    def requests(self, n: int, seed: int, drift: float = 0.0) -> np.ndarray:
        return customers(n, seed, drift)

    def labels(self, rows: np.ndarray, seed: int, drift: float = 0.0) -> np.ndarray:
        return churned(rows, seed, drift)

    def describe(self, drift: float) -> str:
        if drift == 0:
            return "like the training data"
        return "after a rival's cheaper plan: higher bills, shorter contracts"


# The seed's batch use case has twenty features: the six above, then what a subscription
# business also knows of a customer. Most say little about leaving; late payments and support
# plans say something, and a changed business pays later and buys fewer add-ons.
WIDE_FEATURES = (
    *FEATURES,
    "age",
    "senior",
    "partner",
    "dependents",
    "products",
    "tech_support",
    "online_security",
    "streaming",
    "payment_method",
    "late_payments",
    "discount_pct",
    "region",
    "device_age_months",
    "avg_call_minutes",
)
# payment_method: 0 card, 1 bank transfer, 2 cheque, 3 invoice; region: 0-4.
WIDE_CATEGORICAL = (*CATEGORICAL, "senior", "partner", "dependents", "tech_support",
                    "online_security", "streaming", "payment_method", "region")  # fmt: skip


def wide_customers(n: int, seed: int, drift: float = 0.0) -> np.ndarray:
    """n customers x WIDE_FEATURES: customers() and fourteen more columns."""
    rng = np.random.default_rng(seed + 7_919)
    age = rng.normal(45, 14, n).clip(18, 90).round()
    extra = np.column_stack(
        [
            age,
            (age >= 65).astype(int),
            (rng.random(n) < 0.5).astype(int),
            (rng.random(n) < 0.3).astype(int),
            rng.integers(1, 6, n),
            (rng.random(n) < 0.4 - 0.15 * drift).astype(int),
            (rng.random(n) < 0.35).astype(int),
            (rng.random(n) < 0.45).astype(int),
            rng.choice(4, size=n, p=mix([0.4, 0.3, 0.1, 0.2], [0.25, 0.25, 0.1, 0.4], drift)),
            rng.poisson(0.3 + 1.2 * drift, n),
            rng.choice([0, 5, 10, 15], size=n, p=[0.6, 0.2, 0.15, 0.05]),
            rng.integers(0, 5, n),
            rng.gamma(2.0, 9.0, n).clip(0, 72).round(),
            rng.normal(12, 4, n).clip(0, 60).round(1),
        ]
    )
    return np.column_stack([customers(n, seed, drift), extra])


def wide_churned(rows: np.ndarray, seed: int, drift: float = 0.0) -> np.ndarray:
    """As churned(), and a late payer leaves sooner, a customer with a support plan later."""
    late, support = (
        rows[:, WIDE_FEATURES.index("late_payments")],
        rows[:, WIDE_FEATURES.index("tech_support")],
    )
    return _left(rows, _score(rows, drift) + 0.4 * late - 0.5 * support, seed)


class WideSubscribers(Subscribers):
    """The churn world with twenty features, for the batch classifier (`churn-batch`)."""

    features: tuple[str, ...] = WIDE_FEATURES
    categorical: tuple[str, ...] = WIDE_CATEGORICAL

    def requests(self, n: int, seed: int, drift: float = 0.0) -> np.ndarray:
        return wide_customers(n, seed, drift)

    def labels(self, rows: np.ndarray, seed: int, drift: float = 0.0) -> np.ndarray:
        return wide_churned(rows, seed, drift)
