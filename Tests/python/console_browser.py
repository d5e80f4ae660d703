#!/usr/bin/env python3
"""The operator console in a real browser (headless Chromium through Selenium), on the
coordinator the demo day filled: `scripts/demo_day.py --then "python console_browser.py --shots DIR"`.

Logs in as each role through the login form, opens every screen, checks that the numbers shown
equal the API's, validates a round and orders an award through the forms, downloads the monthly
CSV and compares it with the API's, and checks that an aggregator cannot open another
aggregator's pages (and that the coordinator logged the attempt). Saves a screenshot of each
screen into --shots. Exit status 0 when every check passed.

Environment (from demo_day.py): CONSOLE_API, CONSOLE_TOKENS, CONSOLE_DAY, CONSOLE_DIR, DEMO_CLOCK.
"""
import argparse
import datetime as dt
import json
import math
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zoneinfo
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

API = os.environ["CONSOLE_API"]
TOKENS = json.loads(Path(os.environ["CONSOLE_TOKENS"]).read_text())
DAY = os.environ["CONSOLE_DAY"]
FOLDER = Path(os.environ["CONSOLE_DIR"])
ORIGIN, REAL_ORIGIN, SPEED = (float(x) for x in os.environ["DEMO_CLOCK"].split())
ZONE = zoneinfo.ZoneInfo("Europe/Rome")  # the demo's market
LOCATION = "cp-centro"

failures = []


def check(name, passed, detail=""):
    print(f"  {'ok  ' if passed else 'FAIL'} {name}" + (f": {detail}" if detail and not passed else ""), flush=True)
    if not passed:
        failures.append(name)


def api(method, path, as_, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(API + path, data=data, method=method, headers={
        "Authorization": f"Bearer {TOKENS[as_]}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        payload = response.read()
        return json.loads(payload) if response.headers.get_content_type() == "application/json" else payload.decode()


def number(text):
    """A figure as the console shows it ("−1,234 Wh", "€ 12.30") as a number."""
    cleaned = text.replace("−", "-").replace(",", "").replace("€", "").replace("Wh", "").replace("W", "").replace("%", "").strip()
    return float(cleaned)


def simulated_now():
    return ORIGIN + (time.time() - REAL_ORIGIN) * SPEED


class Browser:
    def __init__(self, shots: Path, downloads: Path):
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000",
                         "--disable-gpu", "--no-first-run", "--disable-extensions"):
            options.add_argument(argument)
        options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                                  "download.prompt_for_download": False})
        self.driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        self.driver.set_page_load_timeout(60)
        self.shots = shots
        self.downloads = downloads

    def open(self, path):
        self.driver.get(API + path)
        return self

    def shot(self, name, full=True, width=1280):
        """A screenshot of the whole page (the viewport grown to the page's height)."""
        self.viewport(width)
        height = self.driver.execute_script("return document.documentElement.scrollHeight") if full else 800
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": min(max(height, 600), 4000), "deviceScaleFactor": 1, "mobile": False})
        self.driver.save_screenshot(str(self.shots / f"{name}.png"))
        self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    def viewport(self, width):
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": 1000, "deviceScaleFactor": 1, "mobile": False})

    def overflow(self, path, width):
        """How many pixels `path` is wider than a viewport `width` wide (0: it reflows)."""
        self.viewport(width)
        self.open(path)
        spill = self.driver.execute_script("return document.documentElement.scrollWidth") - width
        self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        return max(0, spill)

    def text(self, xpath):
        return self.driver.find_element(By.XPATH, xpath).text

    def figure(self, label):
        """The figure under a `dt` label (dl.figures/dl.facts)."""
        return self.text(f"//dt[normalize-space()='{label}']/following-sibling::dd[1]")

    def row(self, table_xpath, first_cell):
        """The cells' texts of the row whose first cell is `first_cell`."""
        cells = self.driver.find_elements(By.XPATH, f"{table_xpath}//tr[td[1][normalize-space()='{first_cell}']]/td")
        # textContent: rows in a closed <details> have no rendered text.
        return [" ".join((c.get_attribute("textContent") or "").split()) for c in cells]

    def login(self, role, keyboard=False):
        self.driver.delete_all_cookies()
        self.open("/console/login")
        field = self.driver.find_element(By.NAME, "token")
        if keyboard:  # Enter in the field submits the form
            field.send_keys(TOKENS[role] + Keys.ENTER)
        else:
            field.send_keys(TOKENS[role])
            self.driver.find_element(By.CSS_SELECTOR, "form.login button[type=submit]").click()
        WebDriverWait(self.driver, 30).until(lambda d: "/console/login" not in d.current_url)

    def status_heading(self):
        return self.text("//h1")

    def quit(self):
        self.driver.quit()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shots", required=True, help="folder for the screenshots (made if missing)")
    options = parser.parse_args()
    shots = Path(options.shots).resolve()
    shots.mkdir(parents=True, exist_ok=True)
    downloads = FOLDER / "downloads"
    downloads.mkdir(exist_ok=True)
    browser = Browser(shots, downloads)
    try:
        run(browser)
    finally:
        browser.quit()
    print(f"console in a browser: {'every check passed' if not failures else f'{len(failures)} failed'}; screenshots in {shots}")
    return 1 if failures else 0


def run(b: Browser):
    driver = b.driver
    month = DAY[:7]
    previous_day = (dt.date.fromisoformat(DAY) - dt.timedelta(days=1)).isoformat()

    # Login ---------------------------------------------------------------------------------
    b.open("/console/fleet")
    check("a page without a session leads to the login", driver.current_url.endswith("/console/login"))
    b.shot("login", full=False)
    driver.find_element(By.NAME, "token").send_keys("scd_not-a-token")
    driver.find_element(By.CSS_SELECTOR, "form.login button[type=submit]").click()
    check("a wrong token is refused", wait_for(lambda: "not valid" in driver.page_source, "the refusal"))

    # The market operator: fleet, node, proof, congestion point, market, orders, settlement ---
    b.login("MO", keyboard=True)
    check("the market operator lands on the fleet", driver.current_url.endswith("/console/fleet"))
    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    check("keyboard: the first Tab reaches the skip link", driver.switch_to.active_element.get_attribute("href").endswith("#main"))
    nodes = api("GET", "/api/v1/nodes", "MO")
    items = nodes["items"] if isinstance(nodes, dict) else nodes
    check("fleet: as many Light Nodes as the API lists", number(b.figure("Light Nodes")) == len(items),
          f"{b.figure('Light Nodes')} vs {len(items)}")
    check("fleet: every node online", number(b.figure("Online")) == len(items), b.figure("Online"))
    check("fleet: times in the market's zone with its offset", b.text("//span[@class='zone']").startswith("Europe/Rome (UTC+"),
          b.text("//span[@class='zone']"))
    b.shot("fleet")

    # The day before the market day holds the first 45 minutes of readings: a finished day.
    site = {"node": "ln-household", "pod": "IT001E00000101"}
    b.open(f"/console/nodes/{site['node']}?day={previous_day}")
    start = midnight(previous_day)
    raw = api("GET", f"/api/v1/pods/{site['pod']}/measurements?from={iso(start)}&to={iso(start + dt.timedelta(days=1))}&resolution=raw", "MO")
    shown = number(b.figure("Readings"))
    check("node: the day's readings equal the API's", shown == len(raw["items"]), f"{shown} vs {len(raw['items'])}")
    powers = [i["active_power"] for i in raw["items"] if i.get("active_power") is not None]
    check("node: lowest and highest power equal the API's",
          round(number(b.figure("Lowest"))) == round(min(powers)) and round(number(b.figure("Highest"))) == round(max(powers)),
          f"{b.figure('Lowest')}/{b.figure('Highest')} vs {min(powers)}/{max(powers)}")
    check("node: the day's chart is drawn", len(driver.find_elements(By.CSS_SELECTOR, "svg.chart path.line")) == 1)
    b.open(f"/console/nodes/{site['node']}?day={DAY}")
    check("node: the market day lists the POD's set-points",
          len(driver.find_elements(By.XPATH, "//section[@aria-labelledby='setpoints']//tbody/tr")) >= 3)
    reports = driver.find_elements(By.XPATH, "//h3[.='Compliance reports']/following-sibling::table[1]//tbody/tr")
    check("node: the node's compliance reports of the day's set-points", len(reports) >= 2, f"{len(reports)} rows")
    b.shot("node")
    seq_field = driver.find_element(By.ID, "seq")
    seq_field.clear()
    seq_field.send_keys("1")
    driver.find_element(By.CSS_SELECTOR, "form.proof-form button").click()
    WebDriverWait(driver, 30).until(lambda d: d.current_url.endswith("/readings/1"))
    proof = api("GET", f"/api/v1/pods/{site['pod']}/nodes/{site['node']}/readings/1/proof", "MO")
    shown = b.figure("Leaf index / tree size").split(" / ")[0]
    check("proof: the leaf index equals the API's", shown == str(proof["leaf_index"]), f"{shown} vs {proof['leaf_index']}")
    b.shot("proof", full=False)

    b.open(f"/console/congestion/{LOCATION}?day={DAY}")
    # ISP 9 starts two hours into the day; baselines are per UTC day, Wh per quarter.
    isp9 = midnight(DAY) + dt.timedelta(hours=2)
    utc = isp9.astimezone(dt.timezone.utc)
    quarter = (utc.hour * 60 + utc.minute) // 15
    baselines = sum(api("GET", f"/api/v1/pods/{pod}/baselines/{utc.date().isoformat()}", "MO")["energy_wh"][quarter] * 4
                    for pod in ("IT001E00000101", "IT001E00000102", "IT001E00000103"))
    cells = b.row("//details//table", "9")
    check("congestion point: ISP 9's forecast is the sum of the BRP baselines", cells and number(cells[2]) == round(baselines),
          f"{cells} vs {baselines}")
    check("congestion point: the deficiency against the maximum load", cells and cells[3] == "10,000 W" and "deficiency 1,600 W" in cells[4],
          f"{cells}")
    check("congestion point: the profile is drawn with the maximum load",
          len(driver.find_elements(By.CSS_SELECTOR, "svg.chart path.limit")) == 1)
    b.shot("congestion")

    book = api("GET", f"/api/v1/market/days/{DAY}", "MO")
    b.open(f"/console/market/{DAY}")
    for round_ in book["rounds"]:
        final = round_.get("final") or {}
        for index, award in enumerate(final.get("awards", [])):
            cells = driver.find_elements(By.XPATH, f"//article[h3[starts-with(., 'Round {round_['id']} ')]]//table[caption='Final awards']//tbody/tr[{index + 1}]/td")
            check(f"market: award {index} of {round_['id']}: energy equals the API's",
                  len(cells) > 6 and number(cells[6].text) == award["energy_wh"], f"{[c.text for c in cells]} vs {award['energy_wh']}")
    withdrawn = driver.find_elements(By.XPATH, "//section[@aria-labelledby='needs']//tbody/tr[td[1]='dso-da-spare']/td")
    check("market: the request the DSO withdrew is shown withdrawn", len(withdrawn) > 6 and withdrawn[6].text.startswith("withdrawn"),
          str([c.text for c in withdrawn]))
    b.shot("market")

    report = api("GET", f"/api/v1/market/settlements/{month}", "MO")
    for entry in report["orders"]:
        b.open(f"/console/orders/{entry['order']}")
        settled = api("GET", f"/api/v1/market/orders/{entry['order']}/settlement", "MO")
        check(f"order {entry['order']}: delivered equals the API's", number(b.figure("Delivered")) == half_up(settled["delivered"] / 4),
              f"{b.figure('Delivered')} vs {settled['delivered']} W over ISPs")
        check(f"order {entry['order']}: net equals the API's", abs(number(b.figure("Net")) - float(settled["net"])) < 0.006,
              f"{b.figure('Net')} vs {settled['net']}")
    b.shot("order")

    b.open(f"/console/settlements/{month}")
    for entry in report["aggregators"]:
        cells = b.row("//section[@aria-labelledby='aggregators']//table", entry["aggregator"])
        check(f"settlement: {entry['aggregator']}'s delivered energy and net equal the API's",
              len(cells) >= 7 and number(cells[2]) == entry["delivered_wh"] and abs(number(cells[6]) - float(entry["net"])) < 0.006,
              f"{cells} vs {entry}")
    # Every request of the demo is at its one congestion point, where both aggregators hold PODs.
    requests = book["requests"]
    alpha = [o for o in book["offers"] if o["entry"]["aggregator"] == "agr-alpha"]
    answered = sum(1 for r in requests if any(
        o["session"] == r["session"] and spans(o["entry"]["isps"]) & spans(r["entry"]["isps"]) for o in alpha))
    obligations = b.row("//section[@aria-labelledby='obligations']//table", "agr-alpha")
    check("settlement: agr-alpha's obligations: the requests at its point and those it answered",
          obligations[1:3] == [str(len(requests)), str(answered)], f"{obligations} vs {len(requests)} requests, {answered} answered")
    b.shot("settlement")
    for stale in downloads_of(b):
        stale.unlink()
    driver.find_element(By.LINK_TEXT, "Download CSV").click()
    csv_file = wait_for(lambda: next((f for f in downloads_of(b) if f.suffix == ".csv"), None), "the CSV download")
    expected = api("GET", f"/api/v1/market/settlements/{month}?format=csv", "MO")
    check("settlement: the CSV downloaded equals the API's", csv_file is not None and csv_file.read_text() == expected)

    # The demo's availability contract: its month on screen is the API's.
    b.open(f"/console/contracts?month={month}")
    contract = api("GET", f"/api/v1/market/contracts/fo-centro/months/{month}", "MO")
    cells = [c.text for c in driver.find_elements(By.XPATH, "//article[h2='Contract fo-centro']//table//tbody/tr/td")]
    check("contracts: fo-centro's availability fee and obligations equal the API's",
          len(cells) == 5 and abs(number(cells[0]) - float(contract["availability_fee"])) < 0.006 and int(cells[1]) == contract["obligations"],
          f"{cells} vs {contract}")
    b.shot("contracts")

    # A tablet held upright (820 px): every screen reflows, none scrolls sideways.
    screens = ["/console/fleet", f"/console/nodes/{site['node']}?day={DAY}", f"/console/nodes/{site['node']}/readings/1",
               "/console/congestion", f"/console/congestion/{LOCATION}?day={DAY}", f"/console/market/{DAY}",
               f"/console/orders/{report['orders'][0]['order']}", f"/console/settlements/{month}", f"/console/contracts?month={month}"]
    wide = {path: spill for path in screens if (spill := b.overflow(path, 820))}
    check("every screen fits a tablet 820 px wide", not wide, f"wider by: {wide}")
    b.open(f"/console/market/{DAY}")
    b.shot("market-tablet", width=820)

    # The DSO: a real-time request met by agr-beta, validated and ordered through the forms ----
    now = simulated_now()
    day_start = midnight(DAY).timestamp()
    isp = math.ceil((now + 2.5 * 3600 - day_start) / 900) + 1   # well ahead: the browser's minutes are 30 of the day's
    api("POST", "/api/v1/market/requests", "DSO", {"session": "real-time", "day": DAY, "id": f"dso-rt-console-{int(time.time())}", "area": [LOCATION],
                                                   "isps": [{"start": isp, "min_power": -1000, "max_power": -800}]})
    api("POST", "/api/v1/market/offers", "agr-beta", {"session": "real-time", "day": DAY, "id": f"beta-rt-console-{int(time.time())}", "location": LOCATION,
                                                      "price": 30, "isps": [{"start": isp, "power": -1000}],
                                                      "pods": [{"pod": "IT001E00000103"}]})
    cleared = api("POST", f"/api/v1/market/sessions/real-time/{DAY}/clear", "MO")
    round_id = cleared["id"]
    b.login("DSO")
    b.open(f"/console/market/{DAY}")
    form = driver.find_element(By.XPATH, f"//form[contains(@action, '/rounds/{round_id}/validation')]")
    b.shot("validation")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(driver, 30).until(lambda d: not d.find_elements(By.XPATH, f"//form[contains(@action, '/rounds/{round_id}/validation')]"))
    decided = api("GET", f"/api/v1/market/rounds/{round_id}", "DSO")
    check("validation through the form: the round is final", decided["state"] == "final" and len(decided["final"]["awards"]) == 1,
          json.dumps(decided)[:300])
    order_button = driver.find_element(By.XPATH, f"//form[contains(@action, '/orders')][input[@name='round'][@value='{round_id}']]//button")
    order_button.click()
    WebDriverWait(driver, 30).until(lambda d: "/console/orders/" in d.current_url)
    order_id = driver.current_url.rsplit("/", 1)[1]
    order = api("GET", f"/api/v1/market/orders/{order_id}", "DSO")
    rows = driver.find_elements(By.XPATH, "//section[@aria-labelledby='activation']//tbody/tr")
    check("order through the form: the set-points shown are the API's", order["round"] == round_id and len(rows) == len(order["setpoints"]),
          f"{len(rows)} rows vs {len(order['setpoints'])}")
    b.shot("order-placed")
    form = driver.find_element(By.XPATH, f"//form[contains(@action, '/console/orders/{order_id}/cancellation')]")
    form.find_element(By.NAME, "reason").send_keys("forecast revised")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(driver, 30).until(lambda d: not d.find_elements(By.XPATH, "//form[contains(@action, '/cancellation')]"))
    cancelled = api("GET", f"/api/v1/market/orders/{order_id}", "DSO")
    check("cancellation through the form: every ISP of the order cancelled, on record",
          (cancelled.get("cancellation") or {}).get("reason") == "forecast revised"
          and all(p["status"] == "cancelled" for p in cancelled["setpoints"]), json.dumps(cancelled)[:300])

    # The DSO's own data: its profile of the next day uploaded as a CSV file, the deficiency requested --
    next_day = (dt.date.fromisoformat(DAY) + dt.timedelta(days=1)).isoformat()
    b.open(f"/console/congestion/{LOCATION}?day={next_day}")
    form = driver.find_element(By.XPATH, "//form[contains(@action, '/profile')]")
    # As a spreadsheet saves it: semicolons, CRLF; uploaded as a file.
    profile_file = Path(tempfile.mkdtemp()) / "profile.csv"
    profile_file.write_bytes(b"isp;forecast_w;max_w\r\n40;5000;4000\r\n41;3000;4000\r\n")
    form.find_element(By.NAME, "file").send_keys(str(profile_file))
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.XPATH, "//form[contains(@action, '/requests')]"))
    cells = b.row("//details//table", "40")
    check("congestion point: the DSO's profile gives ISP 40 a deficiency of 1,000 W", cells and "deficiency 1,000 W" in cells[4], f"{cells}")
    b.shot("congestion-profile")
    driver.find_element(By.XPATH, "//form[contains(@action, '/requests')]//button").click()
    WebDriverWait(driver, 30).until(lambda d: f"/console/market/{next_day}" in d.current_url)
    asked = [isp for r in api("GET", f"/api/v1/market/days/{next_day}", "MO")["requests"] if LOCATION in r["entry"]["area"]
             for isp in r["entry"]["isps"]]
    check("the deficiency requested from the screen: a reduction of 1,000 W at ISP 40",
          any(i["start"] == 40 and i["min_power"] == -1000 and i["max_power"] == -1000 for i in asked), json.dumps(asked)[:300])
    # agr-beta answers; once cleared (and validated), the DSO selects the award on the point's day and orders it.
    api("POST", "/api/v1/market/offers", "agr-beta", {"session": "day-ahead", "day": next_day, "id": f"beta-da-console-{int(time.time())}",
                                                      "location": LOCATION, "price": 25, "isps": [{"start": 40, "power": -1000}],
                                                      "pods": [{"pod": "IT001E00000103"}]})
    cleared = api("POST", f"/api/v1/market/sessions/day-ahead/{next_day}/clear", "MO")
    if cleared["state"] == "preliminary":
        api("PUT", f"/api/v1/market/rounds/{cleared['id']}/validation", "DSO", {"rejected": []})
    b.open(f"/console/congestion/{LOCATION}?day={next_day}")
    boxes = driver.find_elements(By.XPATH, f"//section[@aria-labelledby='awards']//input[@type='checkbox'][starts-with(@value, '{cleared['id']}.')]")
    check("congestion point: the day-ahead award is offered for selection", len(boxes) >= 1, f"{len(boxes)} boxes")
    selected = [box.get_attribute("value") for box in boxes]
    for box in boxes:
        box.click()
    b.shot("congestion-selection")
    driver.find_element(By.XPATH, "//section[@aria-labelledby='awards']//button[@type='submit']").click()
    WebDriverWait(driver, 30).until(lambda d: not d.find_elements(By.XPATH, "//section[@aria-labelledby='awards']//input[@type='checkbox']"))
    placed = {o["id"] for o in api("GET", f"/api/v1/market/orders?day={next_day}", "DSO")["items"]}
    check("the selected awards ordered from the screen", selected and set(selected) <= placed, f"{selected} vs {sorted(placed)}")

    # The TSO reads its own statement of account only -----------------------------------------
    b.login("TSO")
    b.open(f"/console/statements/{month}")
    links = [a.get_attribute("href") for a in driver.find_elements(By.XPATH, "//main//table//a")]
    check("TSO: its own statement of account only", links and all(f"/console/statements/{month}/tso/tso-1/" in link for link in links),
          f"{links}")
    b.shot("statements")

    # An aggregator: its own offers only; another's pages refused and logged -------------------
    b.login("agr-beta")
    check("an aggregator lands on the market", "/console/market/" in driver.current_url)
    b.open(f"/console/market/{DAY}")
    page = driver.page_source
    check("aggregator: its own offers, not agr-alpha's", "beta-da" in page and "alpha-da" not in page)
    b.shot("aggregator-market")
    alpha_order = next(o["order"] for o in report["orders"] if o["aggregator"] == "agr-alpha")
    b.open(f"/console/orders/{alpha_order}")
    check("aggregator: agr-alpha's order is not found", b.status_heading() == "Not Found", b.status_heading())
    b.open(f"/console/settlements/{month}?aggregator=agr-alpha")
    check("aggregator: agr-alpha's settlement is forbidden", b.status_heading() == "Forbidden", b.status_heading())
    b.shot("aggregator-refused")
    b.open("/console/fleet")
    check("aggregator: the fleet is forbidden", b.status_heading() == "Forbidden", b.status_heading())
    log = (FOLDER / "coordinator.log").read_text(errors="replace")
    check("the coordinator logged each refusal", all(f"AGR agr-beta was refused {what}" in log for what in (
        f"order {alpha_order} of agr-alpha", "the settlement of agr-alpha", "the fleet overview")))

    # The BRP has no market screens; logging out ends the session -----------------------------
    b.login("BRP")
    b.open(f"/console/market/{DAY}")
    check("BRP: the market is forbidden", b.status_heading() == "Forbidden", b.status_heading())
    driver.find_element(By.XPATH, "//form[@action='/console/logout']//button").click()
    WebDriverWait(driver, 30).until(lambda d: d.current_url.endswith("/console/login"))
    b.open("/console/fleet")
    check("logging out ends the session", driver.current_url.endswith("/console/login"))


def spans(isps):
    return {n for isp in isps for n in range(isp["start"], isp["start"] + (isp.get("duration") or 1))}


def downloads_of(b):
    return [f for f in b.downloads.iterdir() if not f.name.endswith(".crdownload")]


def wait_for(condition, what, timeout_s=60):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    check(f"waiting for {what}", False, f"not within {timeout_s} s")
    return None


def midnight(day):
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(0), ZONE)


def half_up(value):
    """Rounding as the console's (half away from zero), not Python's (half to even)."""
    return math.copysign(math.floor(abs(value) + 0.5), value)


def iso(moment):
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


if __name__ == "__main__":
    sys.exit(main())
