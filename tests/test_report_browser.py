"""The report in a real headless browser (Chromium + chromedriver via Selenium).

Loads the page from file://, checks that its JavaScript runs without errors, that clicking a
header sorts, that the filter box hides rows, that a matrix cell opens its case and the case's
details (drawn by the script from the page's data) show its parameters, native calls and every
row; that the table of every row (drawn a page at a time) shows every row with the numbers
Python formats, sorts and filters over all rows; that a case id holding a <script> tag stays
inert text; and saves a screenshot (reports/screenshot.png).

Needs /usr/bin/chromium, /usr/bin/chromedriver (Debian: apt-get install chromium chromium-driver)
and the selenium package; skipped with the reason otherwise, except where HARNESS_REQUIRE_BROWSER=1
(.ci/run sets it): there a missing browser fails the run instead of hiding the test.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from harness import adapters, report, results
from harness.formatting import fmt
from harness.report.views import cases_in_order
from harness.runner import run_item
from tests.test_report import XSS, demo_rows, xss_case

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "reports" / "screenshot.png"


def _missing(why: str) -> None:
    if os.environ.get("HARNESS_REQUIRE_BROWSER") == "1":
        pytest.fail(f"HARNESS_REQUIRE_BROWSER=1 but {why}", pytrace=False)
    pytest.skip(why, allow_module_level=True)


if not CHROMIUM.exists():
    _missing(f"{CHROMIUM} is missing (apt-get install chromium chromium-driver)")
if not CHROMEDRIVER.exists():
    _missing(f"{CHROMEDRIVER} is missing (apt-get install chromium-driver)")
try:
    from selenium import webdriver
except ImportError:
    _missing("selenium is not installed (pip install selenium)")
from selenium.common.exceptions import NoAlertPresentException  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def driver():
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1",
                "--window-size=1360,1240", f"--user-data-dir={profile}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    os.environ.setdefault("SE_AVOID_STATS", "true")  # selenium: no usage statistics
    service = webdriver.ChromeService(executable_path=str(CHROMEDRIVER))
    drv = webdriver.Chrome(service=service, options=options)
    drv.set_window_size(1360, 1240)
    yield drv
    drv.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _demo_runs() -> list:
    df = results.to_frame([dict(r) for r in demo_rows(with_torch=True)])
    env = {**results.base_environment(), "demo_buggy.deliberate_bugs": "True"}
    return [(df, env, "demo")]


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    """The report of real rows: numpy, torch (where installed) and the deliberately buggy double."""
    tmp = tmp_path_factory.mktemp("browser")
    return report.build_report(_demo_runs(), tmp / "index.html", title="Convolution equivalence report")


ROW_NUMBERS = ("bound_ratio", "error_ratio", "max_abs_error", "max_ulps", "reduction_length", "seconds")


@pytest.fixture(scope="module")
def expected_rows() -> list[list[str]]:
    """What the table of every row should show, in page order, as Python formats it:
    case, framework, dtype, quantity, status, then ROW_NUMBERS."""
    rows = [r for case in cases_in_order(report.rows_from_frame(report.merge_runs(_demo_runs()))) for r in case]
    return [[r.case_id, r.framework, r.dtype, r.quantity, r.status.value, *(fmt(getattr(r, n)) for n in ROW_NUMBERS)]
            for r in rows]


def _load(driver, path: Path, fragment: str = "") -> None:
    driver.get(path.resolve().as_uri() + fragment)
    driver.get_log("browser")  # start each test from a clean log: what follows is this page's


def _severe(driver) -> list:
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def _column(driver, table_id: str, index: int, attr: str | None = None) -> list[str]:
    return driver.execute_script(
        "const [id, i, attr] = arguments;"
        "return Array.from(document.getElementById(id).tBodies[0].rows)"
        "  .map(r => attr ? r.cells[i].getAttribute(attr) : r.cells[i].textContent.trim());",
        table_id, index, attr)


def _header_index(driver, table_id: str, *words: str) -> int:
    heads = driver.find_elements(By.CSS_SELECTOR, f"#{table_id} thead tr:last-child th")
    for i, th in enumerate(heads):
        if all(w in th.text for w in words):
            return i
    raise AssertionError(f"no header with {words} in {[h.text for h in heads]}")


def _click(driver, element) -> None:
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    element.click()


def test_page_runs_without_javascript_errors(driver, page):
    driver.get(page.resolve().as_uri())
    assert driver.title == "Convolution equivalence report"
    assert driver.execute_script("return document.querySelectorAll('table.sortable th[tabindex]').length") > 10
    assert _severe(driver) == []


def test_clicking_a_header_sorts_the_table(driver, page):
    _load(driver, page)
    col = _header_index(driver, "failures-table", "bound ratio")
    th = driver.find_elements(By.CSS_SELECTOR, "#failures-table thead th")[col]

    def ratios() -> list[float]:
        text = _column(driver, "failures-table", col)
        return [float("inf") if t == "∞" else float(t) for t in text if t not in ("–", "-")]

    before = ratios()
    assert before != sorted(before, reverse=True)  # worst status first, so not ordered by ratio
    _click(driver, th)
    assert th.get_attribute("aria-sort") == "descending"
    after = ratios()
    assert after == sorted(before, reverse=True)
    assert _column(driver, "failures-table", col)[-1] == "–"  # missing values sort last
    _click(driver, th)
    assert th.get_attribute("aria-sort") == "ascending"
    assert ratios() == sorted(before)

    # a matrix column: numeric severities (data-sort), worst first on the first click
    col = _header_index(driver, "matrix-table", "demo_buggy", "float32")
    th = driver.find_elements(By.CSS_SELECTOR, "#matrix-table thead th")[col]
    _click(driver, th)
    keys = [float(k) for k in _column(driver, "matrix-table", col, "data-sort") if k]
    assert keys == sorted(keys, reverse=True) and len(set(keys)) > 3
    assert _severe(driver) == []


def test_typing_in_the_filter_hides_rows(driver, page):
    _load(driver, page)
    box = driver.find_element(By.CSS_SELECTOR, 'input.filter[data-target="matrix-table"]')
    rows = driver.find_elements(By.CSS_SELECTOR, "#matrix-table tbody tr")
    _click(driver, box)
    box.send_keys("transpose")
    shown = [r for r in rows if r.is_displayed()]
    assert 0 < len(shown) < len(rows)
    assert all("transpose" in r.text for r in shown)
    assert all("transpose" not in r.text for r in rows if not r.is_displayed())
    count = driver.find_element(By.CSS_SELECTOR, '[data-count-for="matrix-table"]').text
    assert count == f"{len(shown)} of {len(rows)} shown"
    box.send_keys(" demo_buggy:mismatch")  # terms combine: transposed cases where the demo mismatches
    assert 0 < sum(r.is_displayed() for r in rows) <= len(shown)
    box.clear()
    box.send_keys(" ")
    assert all(r.is_displayed() for r in rows)
    assert _severe(driver) == []


def test_a_matrix_cell_opens_its_case(driver, page):
    _load(driver, page)
    cell = driver.find_element(By.CSS_SELECTOR, "#matrix-table td.c.failing a")
    target = cell.get_attribute("href").split("#", 1)[1]
    assert not driver.execute_script("return document.getElementById(arguments[0]).open", target)
    # its details are drawn only when the case opens
    assert driver.execute_script("return document.querySelector('#' + arguments[0] + ' .body').children.length",
                                 target) == 0
    _click(driver, cell)
    assert driver.execute_script("return document.getElementById(arguments[0]).open", target)
    details = driver.find_element(By.ID, target)
    case_id = details.find_element(By.CSS_SELECTOR, "summary .cid").text
    expected = [r for r in demo_rows(with_torch=True) if r["case_id"] == case_id]
    params = details.find_elements(By.CSS_SELECTOR, "dl.params dt")
    assert {"op", "stride", "padding"} <= {p.text for p in params}
    calls = [c.text for c in details.find_elements(By.CSS_SELECTOR, "table.how code")]
    assert {r["call"] for r in expected if r.get("call") and not r["call"].startswith("dual of ")} <= set(calls)
    results_table = details.find_elements(By.CSS_SELECTOR, "table.sortable")[0]
    body_rows = results_table.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert len(body_rows) == len(expected)  # every quantity of every framework and dtype
    # the drawn table sorts like the others
    th = results_table.find_elements(By.CSS_SELECTOR, "thead th")[4]
    assert th.text.startswith("bound ratio")
    _click(driver, th)
    assert th.get_attribute("aria-sort") == "descending"
    # the cell's tooltip, written on first hover
    failing = driver.find_element(By.CSS_SELECTOR, "#matrix-table td.c.failing.st-mismatch")
    ActionChains(driver).move_to_element(failing).perform()
    tip = failing.get_attribute("title").split("\n")
    assert re.fullmatch(r"\S+ \S* · \w+: mismatch", tip[0]), tip
    assert re.fullmatch(r"worst bound ratio \S+ \(\w+\), tolerance 1", tip[1]), tip
    assert _severe(driver) == []
    # the plot switch shows the other histogram
    _click(driver, driver.find_element(By.CSS_SELECTOR, 'input[value="strip-bound"] + span'))
    assert driver.find_element(By.ID, "strip-bound").is_displayed()
    assert not driver.find_element(By.ID, "strip-error").is_displayed()
    assert _severe(driver) == []


def test_a_script_in_a_case_id_stays_text(driver, tmp_path):
    rows = run_item(xss_case(), "float64", adapters.get("numpy"))
    path = report.build_report([(results.to_frame(rows), {}, "xss")], tmp_path / "xss.html")
    _load(driver, path)
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert  # noqa: B018 - raises when no alert() ran
    # our script and the page's data (JSON, never run): the case id's <script> made no element
    assert driver.execute_script("return document.scripts.length") == 2
    assert driver.execute_script("return Array.from(document.scripts).map(s => s.type)") == ["application/json", ""]
    summary = driver.find_element(By.CSS_SELECTOR, "details.case summary .cid")
    assert summary.text == f"evil{XSS}"
    _click(driver, summary)  # its details: the description and the refs as text, only http(s) as links
    _wait(driver, "return document.querySelector('details.case .desc') !== null")
    details = driver.find_element(By.CSS_SELECTOR, "details.case")
    assert details.find_element(By.CSS_SELECTOR, ".desc").text == f"description {XSS} <b>bold</b> & more"
    links = [a.get_attribute("href") for a in details.find_elements(By.CSS_SELECTOR, ".refs a")]
    assert links == ["https://example.org/issue?a=1&b=%3Cx%3E"]
    assert [s.text for s in details.find_elements(By.CSS_SELECTOR, ".refs span")] == ["javascript:alert(2)"]
    assert driver.execute_script("return document.querySelectorAll('.body script, .desc *, .refs b').length") == 0
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert  # noqa: B018
    assert _severe(driver) == []


def _shown_rows(driver) -> list[list[str]]:
    """The rows table's page: case, framework, dtype, quantity, status (word), then ROW_NUMBERS."""
    return driver.execute_script(
        "const heads = Array.from(document.querySelectorAll('#rows-table thead th')).map(th => th.textContent);"
        "const want = ['case', 'framework', 'dtype', 'quantity', 'status', 'bound ratio', 'error ratio', 'max abs',"
        "  'ULPs', 'K', 'seconds'].map(h => heads.indexOf(h));"
        "return Array.from(document.querySelectorAll('#rows-table tbody tr')).map(tr => want.map((i, k) =>"
        "  k === 4 ? tr.cells[i].querySelector('.chip').textContent : tr.cells[i].textContent.trim()));")


def _wait(driver, script: str, *args) -> None:
    """Until the script returns true (what a <details> toggle draws comes in a task of its own)."""
    WebDriverWait(driver, 10).until(lambda d: d.execute_script(script, *args))


def _open_rows_table(driver) -> None:
    _click(driver, driver.find_element(By.CSS_SELECTOR, "#rows-details > summary"))
    _wait(driver, "return document.querySelectorAll('#rows-table tbody tr').length > 0")


def _page_button(driver, title: str):
    return driver.find_element(By.CSS_SELECTOR, f'[data-pager-for="rows-table"] button[title="{title}"]')


def test_the_rows_table_shows_every_row_a_page_at_a_time(driver, page, expected_rows):
    _load(driver, page)
    assert driver.execute_script("return document.querySelectorAll('#rows-table tr').length") == 0  # not yet drawn
    _open_rows_table(driver)
    count = driver.find_element(By.CSS_SELECTOR, '[data-count-for="rows-table"]')
    assert count.text == f"{len(expected_rows)} rows"
    shown = []
    while True:  # every page: the same rows, in the same order, with the numbers Python's fmt() writes
        shown += _shown_rows(driver)
        button = _page_button(driver, "next page")
        if not button.is_enabled():
            break
        _click(driver, button)
    assert len(expected_rows) > 100  # more than one page
    assert shown == expected_rows
    assert _severe(driver) == []


def test_the_rows_table_sorts_and_filters_over_all_rows(driver, page, expected_rows):
    _load(driver, page)
    _open_rows_table(driver)
    th = [h for h in driver.find_elements(By.CSS_SELECTOR, "#rows-table thead th")
          if h.get_attribute("textContent") == "error ratio"][0]
    _click(driver, th)
    assert th.get_attribute("aria-sort") == "descending"

    def value(text: str) -> float:
        return {"∞": float("inf"), "–": float("-inf")}.get(text, None) or float(text)

    first = [row[6] for row in _shown_rows(driver)]
    every = sorted((value(row[6]) for row in expected_rows), reverse=True)
    assert [value(t) for t in first] == every[:len(first)]  # the largest of all rows come first
    _click(driver, _page_button(driver, "last page"))
    last = [row[6] for row in _shown_rows(driver)]
    assert last[-1] == "–"  # missing values last
    box = driver.find_element(By.CSS_SELECTOR, 'input.filter[data-target="rows-table"]')
    _click(driver, box)
    box.send_keys("demo_buggy mismatch")
    wanted = [r for r in expected_rows if r[1] == "demo_buggy" and "mismatch" in r[4]]  # shape_mismatch too
    count = driver.find_element(By.CSS_SELECTOR, '[data-count-for="rows-table"]').text
    assert count == f"{len(wanted)} of {len(expected_rows)} shown"
    shown = _shown_rows(driver)
    assert len(wanted) <= 100 and sorted(map(tuple, shown)) == sorted(map(tuple, wanted))  # one page: all of them
    assert all(r[1] == "demo_buggy" and "mismatch" in r[4] for r in shown)
    assert [value(r[6]) for r in shown] == sorted((value(r[6]) for r in shown), reverse=True)  # still sorted
    assert _severe(driver) == []


def test_screenshot(driver, page):
    _load(driver, page)
    driver.execute_script("window.scrollTo(0, 0)")
    png = driver.get_screenshot_as_png()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(png) < 300_000, f"screenshot is {len(png)} bytes"
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.write_bytes(png)
