"""How big and how fast is the HTML report? Build it, weigh it, load it in headless Chromium.

    .venv/bin/python scripts/bench_report.py [RESULTS ...] [-o DIR] [--repeat N] [--label TEXT]

Builds the report of the results files (default reports/results.parquet) with the library call
`harness.report.build_report(harness.report.load_runs(specs), out)`, then measures

- the page size (bytes) and the build time (seconds, one build, the CSV included);
- its load in headless Chromium (the flags of tests/test_report_browser.py), `--repeat` times
  from a fresh navigation: navigation start → first contentful paint, → DOMContentLoaded end and
  → load event end, read from the Performance API through Selenium (median of the repeats);

and prints one Markdown table row per run (`--label` names it: "before", "after"). Needs
/usr/bin/chromium, /usr/bin/chromedriver and selenium (`--no-browser` measures size and build only).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1",
                  "--window-size=1360,1240")
TIMING_JS = """
const nav = performance.getEntriesByType("navigation")[0];
const fcp = performance.getEntriesByName("first-contentful-paint")[0];
return {fcp: fcp ? fcp.startTime : null, dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd};
"""


def build(specs: list[str], out: Path) -> tuple[Path, float, int]:
    """Build the report of `specs` into `out` → (page, seconds, rows)."""
    from harness import report

    start = time.perf_counter()
    runs = report.load_runs(specs)
    page = report.build_report(runs, out)
    seconds = time.perf_counter() - start
    return page, seconds, sum(len(df) for df, _env, _label in runs)


def open_browser():
    from selenium import webdriver

    profile = tempfile.mkdtemp(prefix="chromium-bench-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    os.environ.setdefault("SE_AVOID_STATS", "true")
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(120)
    return driver, profile


def load_times(driver, page: Path, repeat: int) -> dict[str, float | None]:
    """Median milliseconds from navigation start to FCP, DOMContentLoaded and load, over `repeat` loads."""
    samples: dict[str, list[float]] = {"fcp": [], "dcl": [], "load": []}
    for _ in range(repeat):
        driver.get("about:blank")
        driver.get(page.resolve().as_uri())  # returns after the load event
        time.sleep(0.2)  # let the paint timing entry land
        timing = driver.execute_script(TIMING_JS)
        for key, values in samples.items():
            if timing.get(key) is not None:
                values.append(float(timing[key]))
    errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    if errors:
        print(f"JavaScript errors on the page: {errors}", file=sys.stderr)
    return {k: (statistics.median(v) if v else None) for k, v in samples.items()}


def table(rows: list[dict]) -> str:
    head = ("| run | results rows | page bytes | page MB | build s | first contentful paint ms "
            "| DOMContentLoaded ms | load ms |\n|---|---:|---:|---:|---:|---:|---:|---:|")

    def ms(v: float | None) -> str:
        return "–" if v is None else f"{v:.0f}"

    lines = [f"| {r['label']} | {r['rows']} | {r['bytes']} | {r['bytes'] / 1e6:.2f} | {r['build']:.2f} "
             f"| {ms(r.get('fcp'))} | {ms(r.get('dcl'))} | {ms(r.get('load'))} |" for r in rows]
    return "\n".join([head, *lines])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="*", default=["reports/results.parquet"],
                        help="results files, PATH or LABEL=PATH (default reports/results.parquet)")
    parser.add_argument("-o", "--output", help="folder for the page (default: a temporary one, removed after)")
    parser.add_argument("--repeat", type=int, default=3, help="page loads to take the median of (default 3)")
    parser.add_argument("--label", default="report", help="the run's name in the table")
    parser.add_argument("--no-browser", action="store_true", help="size and build time only")
    args = parser.parse_args(argv)
    folder = Path(args.output or tempfile.mkdtemp(prefix="bench-report-"))
    try:
        page, seconds, n_rows = build(args.results, folder / "index.html")
        row = {"label": args.label, "rows": n_rows, "bytes": page.stat().st_size, "build": seconds}
        if not args.no_browser:
            driver, profile = open_browser()
            try:
                row.update(load_times(driver, page, args.repeat))
            finally:
                driver.quit()
                shutil.rmtree(profile, ignore_errors=True)
        print(table([row]))
    finally:
        if not args.output:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
