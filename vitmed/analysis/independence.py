"""Conditional-independence tests of feature usage (Reimers et al. 2020): a feature X is used
by a model when X and the model's prediction Ŷ are dependent given the true label Y.

Three tests from maintained libraries, as Piater et al. (after Penzel et al. 2022) use them:
- ``chsic``: kernel conditional independence on the conditional cross-covariance operator of
  Fukumizu et al. 2007 (cHSIC), causal-learn's ``KCI_CInd`` (Zhang et al. 2011's test of that
  operator's Hilbert-Schmidt norm, gamma-approximated null);
- ``rcot``: Strobl et al. 2019's randomized conditional correlation test, causal-learn's
  ``RCIT(rcit=False)`` (random Fourier features, Lindsay-Pilla-Basak null);
- ``cmiknn``: Runge 2018's nearest-neighbour conditional mutual information with its local
  permutation test, tigramite's ``CMIknn``.

The decision is the majority of the tests at the paper's level (p < 0.01).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TESTS = ("chsic", "rcot", "cmiknn")


@dataclass(frozen=True)
class TestSettings:
    """Settings the paper leaves open (README, deviations): the libraries' defaults except a
    fixed seed, and CMIknn's permutations fewer than its 500 (their cost: ~0.1 s each at n = 1,000
    on one core) but enough to resolve the 0.01 level."""
    cmiknn_knn: float = 0.2          # neighbours as a fraction of n (tigramite's default)
    cmiknn_shuffle_neighbors: int = 5
    cmiknn_permutations: int = 200   # smallest p-value 1/201: below the 0.01 level
    rcot_fourier_x: int = 5          # random Fourier features of X and Y (Strobl et al.'s defaults)
    rcot_fourier_z: int = 100        # ... and of the conditioning set
    seed: int = 0


def _columns(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return values[:, None] if values.ndim == 1 else values


def _check(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> None:
    if not len(x) == len(y) == len(z):
        raise ValueError(f"x, y and z must have as many rows; got {len(x)}, {len(y)}, {len(z)}")
    for name, values in (("x", x), ("y", y), ("z", z)):
        if not np.isfinite(values).all():
            raise ValueError(f"{name} holds NaN or infinite values: drop those samples first")


def chsic(x: np.ndarray, y: np.ndarray, z: np.ndarray, settings: TestSettings = TestSettings()) -> float:
    from causallearn.utils.KCI.KCI import KCI_CInd

    np.random.seed(settings.seed)  # its null is a gamma fit, but the library draws with numpy's global RNG
    return float(KCI_CInd().compute_pvalue(x, y, z)[0])


def rcot(x: np.ndarray, y: np.ndarray, z: np.ndarray, settings: TestSettings = TestSettings()) -> float:
    from causallearn.utils.RCIT.RCIT import RCIT

    np.random.seed(settings.seed)  # the random Fourier features come from numpy's global RNG
    test = RCIT(num_f=settings.rcot_fourier_z, num_f2=settings.rcot_fourier_x, rcit=False)
    return float(test.compute_pvalue(x, y, z)[0])


def cmiknn(x: np.ndarray, y: np.ndarray, z: np.ndarray, settings: TestSettings = TestSettings()) -> float:
    from tigramite.independence_tests.cmiknn import CMIknn

    test = CMIknn(knn=settings.cmiknn_knn, shuffle_neighbors=settings.cmiknn_shuffle_neighbors,
                  sig_samples=settings.cmiknn_permutations, significance="shuffle_test", workers=1,
                  seed=settings.seed)
    return float(test.run_test_raw(x, y, z)[1])


TEST_FUNCTIONS = {"chsic": chsic, "rcot": rcot, "cmiknn": cmiknn}


def independence_pvalues(x: np.ndarray, y: np.ndarray, z: np.ndarray, tests=TESTS,
                         settings: TestSettings = TestSettings()) -> dict[str, float]:
    """p-value of each test of X ⊥ Y | Z (rows are samples; 1-D arrays are one column)."""
    x, y, z = _columns(x), _columns(y), _columns(z)
    _check(x, y, z)
    unknown = sorted(set(tests) - set(TEST_FUNCTIONS))
    if unknown:
        raise ValueError(f"unknown independence test(s) {unknown}; known: {list(TEST_FUNCTIONS)}")
    return {name: TEST_FUNCTIONS[name](x, y, z, settings) for name in tests}


def majority_dependent(pvalues: dict[str, float], alpha: float) -> bool:
    """The majority decision: dependent (the feature is used) when more than half of the tests
    reject independence at ``alpha``."""
    return sum(p < alpha for p in pvalues.values()) * 2 > len(pvalues)
