"""Drives the box-office page in headless Chromium (Debian's chromium and chromium-driver, named
by path: nothing is downloaded) and speaks the page's language: sign up, wait, pick a date and a
seat, hold, top up, pay. Used by scenarios.py; each call waits with a deadline, never forever."""

import json
import os
import time
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from selenium_axe_python import Axe

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
DESKTOP = (1280, 900)
PHONE = (390, 844)

# The accessibility audit of every screen a scenario shows: axe-core (bundled by
# selenium-axe-python, nothing fetched), held to WCAG 2.1 A and AA, contrast 4.5:1 for text included.
WCAG_21_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


class Failure(AssertionError):
    """A check of a scenario that did not hold; its message says what was seen instead."""


def check(condition, message):
    if not condition:
        raise Failure(message)


class Browser:
    """One person's browser window on the page."""

    def __init__(self, base_url, artifacts, who, size=DESKTOP):
        self.base_url = base_url.rstrip("/")
        self.artifacts = artifacts
        self.who = who
        options = Options()
        options.binary_location = CHROMIUM
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                         "--no-first-run", "--disable-extensions", "--lang=en-US", "--hide-scrollbars",
                         f"--window-size={size[0]},{size[1]}"):
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        log = open(os.path.join(artifacts, f"chromedriver-{who}.log"), "w")
        self.driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER, log_output=log), options=options)
        self.driver.set_page_load_timeout(20)
        self.driver.set_script_timeout(10)
        self.size = size
        self.resize(size)

    def close(self):
        try:
            self.driver.quit()
        except Exception:  # the browser may already be gone; nothing is left to clean up
            pass

    # Waiting and finding

    def wait(self, condition, timeout=10, what="the page to get there"):
        """Waits for `condition(driver)` to be truthy and returns its value, or fails saying `what`."""
        def safe(driver):
            try:
                return condition(driver)
            except StaleElementReferenceException:
                return False
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(safe)
        except TimeoutException:
            raise Failure(f"{self.who}: waited {timeout}s for {what}; the page says: {self.text()[:800]!r}") from None

    def find(self, css, timeout=10):
        return self.wait(lambda d: next((e for e in d.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()), None),
                         timeout, f"{css} to appear")

    def all(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def text(self, css="main"):
        try:
            return self.driver.find_element(By.CSS_SELECTOR, css).text
        except Exception:
            return ""

    def wait_text(self, words, css="main", timeout=10):
        return self.wait(lambda d: words in self.text(css), timeout, f"{words!r} in {css}")

    def heading(self):
        return self.text("main h1")

    def wait_heading(self, words, timeout=10):
        return self.wait(lambda d: words in self.heading(), timeout, f"the heading {words!r}")

    def click_text(self, words, css="button, a"):
        element = self.wait(lambda d: next((e for e in d.find_elements(By.CSS_SELECTOR, css)
                                            if e.is_displayed() and e.is_enabled() and words in e.text), None),
                            10, f"a control saying {words!r}")
        element.click()
        return element

    # The page's state

    def storage(self):
        return json.loads(self.driver.execute_script("return localStorage.getItem('ticketbox.session.v1') || '{}'"))

    def console_errors(self, ignore=()):
        """The browser console's errors (the log is read once: later calls see only newer entries)."""
        entries = self.driver.get_log("browser")
        return [e for e in entries if e["level"] == "SEVERE" and not any(word in e["message"] for word in ignore)]

    # Screens

    def resize(self, size):
        self.driver.set_window_size(*size)
        # Headless windows count the frame in; fix the viewport itself to the size asked for.
        inner = self.driver.execute_script("return [window.innerWidth, window.innerHeight]")
        if inner and inner != list(size):
            self.driver.set_window_size(size[0] * 2 - inner[0], size[1] * 2 - inner[1])

    def snap(self, name, sizes=(("desktop", DESKTOP), ("phone", PHONE))):
        """Saves a full-page screenshot at each size, then returns to the window's own size."""
        for label, size in sizes:
            self.resize(size)
            time.sleep(0.3)
            height = self.driver.execute_script("return document.documentElement.scrollHeight")
            self.driver.set_window_size(self.driver.get_window_size()["width"], max(size[1], min(height + 120, 4000)))
            time.sleep(0.2)
            self.driver.save_screenshot(os.path.join(self.artifacts, f"{name}-{label}.png"))
            self.audit(name, label)
        self.resize(self.size)

    def audit(self, name, label=None):
        """Runs axe-core on the page as it is now and fails on any WCAG 2.1 AA violation, naming
        each rule and the elements that break it; the whole result goes to the artifacts."""
        label = label or ("phone" if self.size == PHONE else "desktop")
        axe = Axe(self.driver)
        axe.inject()
        results = axe.run(options=WCAG_21_AA)
        with open(os.path.join(self.artifacts, f"axe-{name}-{label}.json"), "w") as out:
            json.dump({"url": results.get("url"), "violations": results["violations"],
                       "passes": len(results.get("passes", [])), "incomplete": len(results.get("incomplete", []))}, out, indent=1)
        check(not results["violations"], f"{self.who}: {name} at {label} width breaks WCAG 2.1 AA: {Axe.report(results['violations'])}")
        check(results.get("passes"), f"{self.who}: axe-core checked nothing on {name}")

    def open(self, path="/"):
        self.driver.get(self.base_url + path)

    def sign_up(self, name):
        """From the concert list: Get tickets on the first concert, sign up on the way."""
        self.open("/")
        self.find(".card.concert")
        self.find(".card.concert a.button").click()
        self.wait_heading("Sign up")
        field = self.find("#name")
        field.send_keys(name)
        self.click_text("Create my account")

    def reach_dates(self, timeout=15):
        self.wait_heading("Choose a date", timeout)

    def open_first_date(self):
        self.find(".card.date a.button").click()
        self.wait_heading("Choose a seat")
        self.find(".seat-map .seat, .seat-list li")

    def seat(self, number):
        """The map's seat element of that number."""
        return self.find(f'.seat-map [data-number="{number}"]')

    def seat_status(self, number):
        elements = self.all(f'.seat-map [data-number="{number}"]')
        return elements[0].get_attribute("data-status") if elements else None

    def hold_chosen(self):
        self.find('[data-testid="hold"]').click()

    def wait_hold_screen(self, number, timeout=10):
        self.wait_heading(f"Seat {number}", timeout)
        return self.find('[data-testid="countdown"]')


class Api:
    """The public HTTP API, for setting the scene around a browser (people ahead in line, say)."""

    def __init__(self, base_url):
        self.base_url = base_url.rstrip("/")

    def send(self, method, path, body=None, key=None, token=None):
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        if token:
            headers["X-Queue-Token"] = token
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def wait_status(self, key, token, wanted, timeout=10):
        """Asks for a token's status until it is `wanted`; whether it got there in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, answer = self.send("GET", "/api/v1/queue/tokens/current", key=key, token=token)
            if status == 200 and answer["status"] == wanted:
                return True
            time.sleep(0.1)
        return False

    def user_in_line(self, name):
        status, user = self.send("POST", "/api/v1/users", {"name": name})
        check(status == 201, f"sign-up answered {status}: {user}")
        status, token = self.send("POST", "/api/v1/queue/tokens", key=user["apiKey"])
        check(status in (200, 201), f"queue answered {status}: {token}")
        return user["apiKey"], token["token"]
