"""The measured precision profile of a run: per framework × dtype × op × quantity, the effective
accumulation precision the errors show, against the contract each row was judged by.

A correct float32 accumulator leaves only the final rounding of the output: its rows' error ratio
(max |err| / (u * (|x| ⋆ |w|))) stays near or below one rounding and falls as K grows (|y_ref| grows
like sqrt(K), |x| ⋆ |w| like K), and the error beyond u_out * |y_ref| is float32-sized: ~24
effective bits or more. A float16 accumulator errs by about u16 * (|x| ⋆ |w|) whatever K, so its
error ratio stays near 1 and its effective bits near 11 (bfloat16: 8). See
`harness.precision.effective_bits`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from harness import precision as prec
from harness.status import Status

QUANTITIES = ("y", "dx", "dw", "db")
COLUMNS = ["framework", "dtype", "op", "quantity", "rows", "k_min", "k_max", "error_ratio_max", "slope",
           "effective_bits", "behaves_like", "contract", "contract_failures", "deviation_observed", "unexpected"]


def _judged(df: pd.DataFrame, dtypes: tuple[str, ...]) -> pd.DataFrame:
    """Rows of the quantities that were compared (pass or mismatch), with an error ratio, K and a
    numeric effective precision; an older results file (no effective_bits, or the column empty after a
    merge) has none, and a missing optional column reads as empty."""
    if df.empty or "effective_bits" not in df:
        return df.iloc[0:0]
    bits = pd.to_numeric(df["effective_bits"], errors="coerce")
    df = df.assign(effective_bits=bits,
                   **{c: df[c] if c in df else None for c in ("accumulation", "xfail", "deviation_seen")})
    keep = (bits.notna() & df["dtype"].isin(dtypes) & df["quantity"].isin(QUANTITIES) & df["status"].isin([Status.PASS.value, Status.MISMATCH.value])
            & df["error_ratio"].notna() & (df["reduction_length"].fillna(0) > 0))
    return df[keep]


def slope(k: np.ndarray, ratio: np.ndarray) -> float:
    """Least-squares slope of log(error ratio) on log(K): about -0.5 for a float32 accumulator rounding
    once to 16 bits, about 0 for a 16-bit accumulator; NaN with fewer than 3 sizes."""
    ok = (ratio > 0) & np.isfinite(ratio) & (k > 0)
    if len(np.unique(k[ok])) < 3:
        return math.nan
    return float(np.polyfit(np.log(k[ok]), np.log(ratio[ok]), 1)[0])


def profile(df: pd.DataFrame, dtypes: tuple[str, ...] = prec.LOW_PRECISION) -> pd.DataFrame:
    """One row per (framework, dtype, op, quantity) with rows judged: see the module docstring.

    `effective_bits` is the lowest over the group's rows (the worst accumulator seen), `contract` the
    accumulation the rows were judged by, `contract_failures` the rows outside it, of which
    `deviation_observed` are known deviations and `unexpected` the rest.
    """
    rows = _judged(df, dtypes)
    if rows.empty:
        return pd.DataFrame(columns=COLUMNS)
    rows = rows.assign(op=rows["op"].str.replace(r"\d+d$", "", regex=True))
    out = []
    for (framework, dtype, op, quantity), g in rows.groupby(["framework", "dtype", "op", "quantity"], sort=True):
        k = g["reduction_length"].to_numpy(dtype=float)
        bits = float(g["effective_bits"].min())
        failing = g["status"] == Status.MISMATCH.value
        seen = g["deviation_seen"].fillna("") == "observed"
        out.append({
            "framework": framework, "dtype": dtype, "op": op, "quantity": quantity, "rows": len(g),
            "k_min": int(k.min()), "k_max": int(k.max()), "error_ratio_max": float(g["error_ratio"].max()),
            "slope": slope(k, g["error_ratio"].to_numpy(dtype=float)), "effective_bits": bits,
            "behaves_like": prec.behaves_like(bits), "contract": ", ".join(sorted(set(g["accumulation"].dropna()))),
            "contract_failures": int(failing.sum()), "deviation_observed": int((failing & seen).sum()),
            "unexpected": int((failing & ~seen & (g["xfail"].fillna("") == "")).sum()),
        })
    return pd.DataFrame(out, columns=COLUMNS)


def by_framework(table: pd.DataFrame) -> pd.DataFrame:
    """The profile folded to framework × dtype: the lowest effective bits over op and quantity, and
    which quantities fail their contract."""
    if table.empty:
        return table
    out = []
    for (framework, dtype), g in table.groupby(["framework", "dtype"], sort=True):
        failing = g[g["contract_failures"] > 0]
        out.append({"framework": framework, "dtype": dtype, "effective_bits": float(g["effective_bits"].min()),
                    "behaves_like": prec.behaves_like(float(g["effective_bits"].min())),
                    "contract_failures": int(g["contract_failures"].sum()),
                    "unexpected": int(g["unexpected"].sum()),
                    "failing": ", ".join(f"{r.op} {r.quantity} (~{r.effective_bits:.1f} bits)"
                                         for r in failing.itertuples())})
    return pd.DataFrame(out)


def summary_lines(df: pd.DataFrame) -> list[str]:
    """What `harness run` prints: one line per framework × dtype that does not meet its contract."""
    table = by_framework(profile(df))
    if table.empty:
        return []
    lines = []
    for r in table[table["contract_failures"] > 0].itertuples():
        lines.append(f"{r.framework} {r.dtype}: {r.contract_failures} row(s) outside the precision contract "
                     f"({r.unexpected} unexpected), behaves like {r.behaves_like} accumulation at worst "
                     f"(~{r.effective_bits:.1f} effective bits): {r.failing}")
    return lines
