"""The box-office page's browser scenarios, one per run against a stack already started by the
Swift end-to-end test that calls this (BrowserTests.swift), which also chose the stack's settings
(fast or slow admission, short holds).

    python scenarios.py SCENARIO --base-url http://127.0.0.1:PORT --artifacts DIR

Exit 0 when every check held; otherwise the first failed check, and screenshots in DIR."""

import argparse
import os
import sys
import threading
import time
import traceback

from selenium.webdriver.common.keys import Keys

from boxoffice import PHONE, Api, Browser, Failure, check

SCENARIOS = {}


def scenario(function):
    SCENARIOS[function.__name__] = function
    return function


def say(text):
    print(text, flush=True)


def no_console_errors(browser, ignore=()):
    errors = browser.console_errors(ignore)
    check(not errors, f"{browser.who}: the browser console has errors: {errors}")
    say(f"{browser.who}: console clean")


def first_available(browser, skip=()):
    for element in browser.all('.seat-map [data-status="available"]'):
        number = int(element.get_attribute("data-number"))
        if number not in skip:
            return number
    raise Failure(f"{browser.who}: no available seat on the map")


@scenario
def booking(run):
    """A whole booking, from sign-up to a paid reservation in "my reservations", with a
    screenshot of each screen at desktop and phone width, and a clean console."""
    fan = run.browser("minji")
    fan.open("/")
    fan.find(".card.concert")
    check("Get tickets" in fan.text(), "the concert list has no Get tickets")
    fan.snap("01-concerts")
    fan.find(".card.concert a.button").click()
    fan.wait_heading("Sign up")
    fan.snap("02-sign-up")
    fan.find("#name").send_keys("김민지 Minji")
    fan.click_text("Create my account")
    fan.reach_dates()
    check("김민지 Minji" in fan.text("#nav"), f"the header does not name the user: {fan.text('#nav')!r}")
    fan.snap("04-dates")
    fan.open_first_date()
    fan.snap("05-seat-map")

    number = first_available(fan)
    label = fan.seat(number).get_attribute("aria-label")
    check(label.startswith(f"Seat {number}, ") and label.endswith(" won, available"), f"seat label {label!r}")
    check(fan.seat(number).get_attribute("role") == "button" and fan.seat(number).get_attribute("tabindex") == "0",
          "an available seat is not a focusable button")
    fan.seat(number).click()
    fan.wait_text(f"Seat {number} ·", '[data-testid="selection"]')
    fan.hold_chosen()
    countdown = fan.wait_hold_screen(number)
    first = countdown.text
    time.sleep(1.3)
    check(countdown.text != first, f"the countdown does not count: {first!r} then {countdown.text!r}")
    check("warning" not in countdown.get_attribute("class"), "a 60-second hold warns before its last minute")
    check("short" in fan.text(), "the hold screen does not say the empty wallet is short")
    primary = [button.get_attribute("data-testid") for button in fan.all("main button.primary")]
    check(primary == ["top-up"], f"on a short wallet the primary action should be Top up alone, not {primary}")
    fan.snap("06-hold")

    fan.find('[data-testid="top-up"]').click()
    fan.wait_text("Topped up", '[data-testid="hold-status"]')
    primary = [button.get_attribute("data-testid") for button in fan.all("main button.primary")]
    check(primary == ["pay"], f"with the wallet topped up the primary action should be Pay, not {primary}")
    fan.find('[data-testid="pay"]').click()
    fan.wait_heading("My reservations")
    fan.wait_text("Paid")
    card = fan.find(".card.reservation")
    check(card.get_attribute("data-status") == "reserved" and f"Seat {number}" in card.text,
          f"my reservations shows {card.text!r} ({card.get_attribute('data-status')})")
    fan.snap("07-my-reservations")

    fan.click_text("Wallet", "#nav a")
    fan.wait_heading("Wallet")
    fan.wait(lambda d: len(fan.all("tbody tr")) == 2, what="the ledger's top-up and payment")
    kinds = [row.get_attribute("data-kind") for row in fan.all("tbody tr")]
    check(kinds == ["payment", "charge"], f"the ledger reads {kinds}")
    check(fan.text('[data-testid="balance"]') == "0 won", f"the balance reads {fan.text('[data-testid=balance]')!r}")
    fan.snap("08-wallet")
    no_console_errors(fan)

    fan.click_text("Sign out", "#nav button")
    fan.wait_text("signed out")
    check(fan.storage() == {}, f"signing out left {fan.storage()} in local storage")
    no_console_errors(fan)
    say(f"booked seat {number}; ledger {kinds}")


@scenario
def keyboard(run):
    """A seat chosen and held with the keyboard alone (Tab, arrow keys, Enter)."""
    fan = run.browser("keys")
    fan.sign_up("Keyboard Kim")
    fan.reach_dates()
    fan.open_first_date()
    fan.find('.seat-map [data-status="available"]')

    def focused():
        return fan.driver.switch_to.active_element

    for _ in range(40):
        focused().send_keys(Keys.TAB)
        if focused().get_attribute("data-status") == "available":
            break
    start = focused()
    check(start.get_attribute("data-status") == "available", "Tab never reached a seat")
    first = int(start.get_attribute("data-number"))
    start.send_keys(Keys.ARROW_RIGHT)
    moved = focused()
    second = int(moved.get_attribute("data-number"))
    check(second > first, f"ArrowRight moved from seat {first} to {second}")
    moved.send_keys(Keys.ARROW_DOWN)
    below = int(focused().get_attribute("data-number"))
    check(below >= second + 10 and (below - second) % 10 == 0, f"ArrowDown moved from seat {second} to {below}")
    focused().send_keys(Keys.ARROW_UP)
    check(int(focused().get_attribute("data-number")) == second, "ArrowUp did not come back")
    focused().send_keys(Keys.ENTER)
    fan.wait_text(f"Seat {second} ·", '[data-testid="selection"]')
    check(focused().get_attribute("data-testid") == "hold", "choosing a seat does not move the focus to Hold")
    # Changing one's mind: Shift+Tab back to the map, choose another seat with Space instead.
    focused().send_keys(Keys.SHIFT, Keys.TAB)
    check(focused().get_attribute("data-status") == "available", "Shift+Tab from Hold does not reach a seat")
    third = int(focused().get_attribute("data-number"))
    check(third != second, f"Shift+Tab landed on the chosen seat {third}")
    focused().send_keys(Keys.SPACE)
    fan.wait_text(f"Seat {third} ·", '[data-testid="selection"]')
    check(focused().get_attribute("data-testid") == "hold", "choosing with Space does not move the focus to Hold")
    focused().send_keys(Keys.ENTER)
    fan.wait_hold_screen(third)
    fan.audit("keyboard-hold")
    no_console_errors(fan)
    say(f"Tab reached seat {first}; arrows reached seat {second}, Enter chose it; Shift+Tab and Space chose seat {third}; Enter held it")


@scenario
def race(run):
    """Two browsers race for one seat: one holds it, the other's page names the seat it lost and
    shows it taken. A hold made elsewhere appears on a watching map within 2 seconds."""
    alice, bob = run.browser("alice"), run.browser("bob")
    for fan, name in ((alice, "Alice"), (bob, "Bob")):
        fan.sign_up(name)
        fan.reach_dates()
        fan.open_first_date()
    number = first_available(alice)
    check(bob.seat_status(number) == "available", "the two maps disagree")
    alice.seat(number).click()
    bob.seat(number).click()
    holds = [alice.find('[data-testid="hold"]'), bob.find('[data-testid="hold"]')]
    gate = threading.Barrier(2)

    def press(button):
        gate.wait()
        button.click()

    threads = [threading.Thread(target=press, args=(button,)) for button in holds]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    def outcome(fan):
        if f"Seat {number}" in fan.heading() and fan.all('[data-testid="countdown"]'):
            return "won"
        if f"Seat {number} was just taken by someone else" in fan.text():
            return "lost"
        return None

    alice.wait(lambda d: outcome(alice), 10, "the race's outcome")
    bob.wait(lambda d: outcome(bob), 10, "the race's outcome")
    outcomes = {fan.who: outcome(fan) for fan in (alice, bob)}
    check(sorted(outcomes.values()) == ["lost", "won"], f"outcomes {outcomes}")
    loser = alice if outcomes["alice"] == "lost" else bob
    winner = bob if loser is alice else alice
    loser.wait(lambda d: loser.seat_status(number) == "reserving", 3, f"seat {number} shown taken on the loser's map")
    check(f"Seat {number}, " in loser.seat(number).get_attribute("aria-label") and loser.seat(number).get_attribute("tabindex") is None,
          "the lost seat is still offered")
    loser.snap("09-seat-lost")

    # Live seats: the winner goes back to the map and holds another; the loser only watches.
    winner.driver.back()
    winner.wait_heading("Choose a seat")
    winner.find('.seat-map [data-status="available"]')
    other = first_available(winner, skip=(number,))
    winner.seat(other).click()
    winner.hold_chosen()
    winner.wait_hold_screen(other)
    held_at = time.monotonic()
    loser.wait(lambda d: loser.seat_status(other) == "reserving", 3, f"seat {other} to turn held on the watching map")
    say(f"{winner.who} won seat {number}, {loser.who} was told; seat {other} showed held "
        f"{time.monotonic() - held_at:.2f}s after the hold")
    no_console_errors(winner)
    no_console_errors(loser, ignore=("status of 409",))


@scenario
def lapse(run):
    """A hold left to lapse (the stack runs with a short HOLD_SECONDS): the countdown warns, the
    page says plainly that the hold lapsed, and the seat is free again on the map."""
    fan = run.browser("lapse")
    fan.sign_up("Slow Payer")
    fan.reach_dates()
    fan.open_first_date()
    number = first_available(fan)
    fan.seat(number).click()
    fan.hold_chosen()
    countdown = fan.wait_hold_screen(number)
    check("warning" in countdown.get_attribute("class"), "a hold in its last minute does not warn")
    check("Less than a minute left" in fan.text(), "no words for the last minute")
    ended = fan.find('[data-testid="ended"]', timeout=float(os.environ.get("HOLD_SECONDS", "5")) + 10)
    check(f"Your hold on seat {number} has lapsed" in ended.text and "not charged" in ended.text, f"the page says {ended.text!r}")
    check("yours for now" not in fan.text(), f"the lapsed hold still says the seat is yours: {fan.text()!r}")
    fan.snap("10-hold-lapsed")
    fan.click_text("Choose a seat again")
    fan.wait_heading("Choose a seat")
    fan.wait(lambda d: fan.seat_status(number) == "available", 5, f"seat {number} to be free again on the map")
    check(fan.seat(number).get_attribute("role") == "button", "the freed seat is not offered again")
    fan.click_text("My reservations", "#nav a")
    fan.wait_heading("My reservations")
    card = fan.find(".card.reservation")
    check(card.get_attribute("data-status") == "canceled" and f"Seat {number}" in card.text,
          f"my reservations shows {card.text!r} ({card.get_attribute('data-status')})")
    no_console_errors(fan)
    say(f"seat {number} lapsed and was free again")


@scenario
def waiting(run):
    """The waiting room while the active slots are full (QUEUE_MAX_ACTIVE=2): each time someone
    ahead leaves, the position goes down without a reload, and then the page moves on by itself."""
    api = Api(run.base_url)
    active = [api.user_in_line(f"inside {index}") for index in range(2)]
    for key, token in active:
        check(api.wait_status(key, token, "active"), "the first two were not let in")
    waiting = [api.user_in_line(f"ahead {index}") for index in range(3)]
    fan = run.browser("waiter")
    fan.sign_up("Patient Park")
    fan.wait_heading("Waiting room")
    fan.driver.execute_script("window.__sameDocument = true")
    fan.wait(lambda d: fan.text('[data-testid="position"]') == "4", 10, "place 4 in line")
    check("3 people ahead of you" in fan.text(), f"the people ahead: {fan.text()!r}")
    check(fan.text('[data-testid="updated"]'), "no time of the last update")
    check("Estimated wait" in fan.text(), "no estimated wait")
    check(fan.all("main progress"), "no progress bar")
    fan.snap("03-waiting-room")
    # Whoever is inside leaves, one at a time; the next in line takes the slot.
    seen = [4]
    for key, token in active + waiting:
        if "Waiting room" not in fan.heading():
            break
        check(api.wait_status(key, token, "active"), "the line did not move")
        status, _ = api.send("DELETE", "/api/v1/queue/tokens/current", key=key, token=token)
        check(status == 204, f"leaving answered {status}")
        expected = seen[-1] - 1
        if expected > 0:
            fan.wait(lambda d: fan.text('[data-testid="position"]') == str(expected), 5, f"place {expected}")
            seen.append(expected)
    fan.reach_dates(5)
    check(fan.driver.execute_script("return window.__sameDocument === true"), "the page was reloaded")
    check(seen == [4, 3, 2, 1], f"positions seen: {seen}")
    no_console_errors(fan)
    say(f"positions seen: {seen}, then admitted without a reload")


@scenario
def leave(run):
    """Leaving the line: the token is expired at once and the page goes back to the concerts."""
    api = Api(run.base_url)
    key, token = api.user_in_line("inside")
    check(api.wait_status(key, token, "active"), "the first was not let in")
    fan = run.browser("leaver")
    fan.sign_up("Leaving Lee")
    fan.wait_heading("Waiting room")
    fan.wait(lambda d: fan.text('[data-testid="position"]') == "1", 10, "place 1 in line")
    check("You are next" in fan.text(), f"the page says {fan.text()!r}")
    session = fan.storage()
    fan.audit("leave-waiting-room")
    fan.click_text("Leave the line")
    fan.wait_text("You left the line")
    fan.audit("leave-left")
    status, answer = api.send("GET", "/api/v1/queue/tokens/current", key=session["user"]["apiKey"], token=session["queueToken"])
    check(status == 200 and answer["status"] == "expired", f"the left token reads {status} {answer}")
    check("queueToken" not in fan.storage(), "the page kept the token it gave up")
    no_console_errors(fan)
    say("left the line: token expired")


@scenario
def phone(run):
    """At phone width (390×844) the seat list is the layout, and booking from it works."""
    fan = run.browser("phone", size=PHONE)
    fan.sign_up("Phone Choi")
    fan.reach_dates()
    fan.open_first_date()
    seat_list = fan.find('[data-testid="seat-list"]')
    check(seat_list.is_displayed(), "the seat list is not shown at phone width")
    check(not fan.all('[data-testid="seat-map"]')[0].is_displayed(), "the seat map is shown at phone width")
    width = fan.driver.execute_script("return document.documentElement.scrollWidth")
    check(width <= PHONE[0], f"the page is {width}px wide on a {PHONE[0]}px phone")
    button = fan.find('.seat-list li[data-status="available"] button')
    number = int(button.find_element("xpath", "..").get_attribute("data-number"))
    check(button.get_attribute("aria-label").startswith(f"Choose Seat {number}, "), f"list button label {button.get_attribute('aria-label')!r}")
    button.click()
    fan.wait_text(f"Seat {number} ·", '[data-testid="selection"]')
    fan.hold_chosen()
    fan.wait_hold_screen(number)
    price = int(fan.text("main p strong").replace(",", "").split()[0])

    # Paying from an empty wallet: refused in words, nothing charged, the hold kept.
    fan.find('[data-testid="pay"]').click()
    fan.wait_text(f"Your balance is {price:,} won short", '[data-testid="hold-status"]')
    check(fan.all('[data-testid="countdown"]'), "a refused payment lost the hold")
    fan.find('[data-testid="top-up"]').click()
    fan.wait_text("Topped up", '[data-testid="hold-status"]')
    fan.find('[data-testid="pay"]').click()
    fan.wait_heading("My reservations")
    fan.wait(lambda d: fan.find(".card.reservation").get_attribute("data-status") == "reserved", 5, "the reservation paid")
    fan.snap("11-paid-on-phone", sizes=(("phone", PHONE),))
    no_console_errors(fan, ignore=("status of 402",))
    say(f"held seat {number} from the list at {PHONE[0]}x{PHONE[1]}; a payment short by {price:,} won was refused in words, then paid")


class Run:
    def __init__(self, base_url, artifacts):
        self.base_url = base_url
        self.artifacts = artifacts
        self.browsers = []

    def browser(self, who, **options):
        browser = Browser(self.base_url, self.artifacts, who, **options)
        self.browsers.append(browser)
        return browser

    def close(self, failed):
        for browser in self.browsers:
            if failed:
                try:
                    browser.driver.save_screenshot(os.path.join(self.artifacts, f"failed-{browser.who}.png"))
                    say(f"{browser.who} was at {browser.driver.current_url}: {browser.text()[:600]!r}")
                except Exception:
                    pass
            browser.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--artifacts", required=True)
    arguments = parser.parse_args()
    os.makedirs(arguments.artifacts, exist_ok=True)
    run = Run(arguments.base_url, arguments.artifacts)
    started = time.monotonic()
    failed = True
    try:
        SCENARIOS[arguments.scenario](run)
        failed = False
    except Failure as failure:
        say(f"FAILED {arguments.scenario}: {failure}")
    except Exception:
        say(f"FAILED {arguments.scenario} with an error:\n{traceback.format_exc()}")
    finally:
        run.close(failed)
    say(f"{arguments.scenario}: {'failed' if failed else 'passed'} in {time.monotonic() - started:.1f}s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
