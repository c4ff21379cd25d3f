"""Drives a real headless Chromium through the recipient's page of a one-time share.

Run by tests/api/share_page.rs with the server's URL, a share id, its passphrase and the
value it must show. Opens /s/<id>, types the passphrase, submits, checks the value is
shown, then opens the page again and checks it says the share is gone. Also checks that
the page's Content Security Policy blocked nothing (its one script and style are allowed
by hash). Prints one line and exits non-zero on the first failure.
"""

import argparse
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as visible
from selenium.webdriver.support.ui import WebDriverWait


def browser(chromedriver):
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                 "--ignore-certificate-errors", "--disable-gpu"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)


def shown(driver, element_id):
    return driver.find_element(By.ID, element_id).is_displayed()


def csp_violations(driver):
    return [entry["message"] for entry in driver.get_log("browser")
            if "Content Security Policy" in entry["message"]]


def run(args):
    driver = browser(args.chromedriver)
    wait = WebDriverWait(driver, 20)
    try:
        page = f"{args.url}/s/{args.id}"
        driver.get(page)
        field = wait.until(visible.visibility_of_element_located((By.ID, "passphrase")))
        field.send_keys(args.passphrase)
        driver.find_element(By.ID, "submit").click()
        wait.until(lambda d: shown(d, "shown") or shown(d, "gone") or shown(d, "retry"))
        if not shown(driver, "shown"):
            return "the page did not show the value after the passphrase was submitted"
        value = driver.find_element(By.ID, "value").text
        if value != args.value:
            return f"the page showed {value!r}, not the shared value"
        blocked = csp_violations(driver)
        if blocked:
            return f"the Content Security Policy blocked part of the page: {blocked[0]}"
        driver.get(page)
        wait.until(visible.visibility_of_element_located((By.ID, "gone")))
        if shown(driver, "open") or "gone" not in driver.find_element(By.ID, "gone").text:
            return "the page opened again did not say the share is gone"
        return None
    finally:
        driver.quit()


def main():
    parser = argparse.ArgumentParser()
    for name in ("--url", "--id", "--passphrase", "--value"):
        parser.add_argument(name, required=True)
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    args = parser.parse_args()
    try:
        failure = run(args)
    except Exception as error:  # one line for the test's message, whatever went wrong
        failure = f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"
    if failure:
        print(f"share page: {failure}")
        sys.exit(1)
    print("share page: the value was shown once, then the page said gone")


if __name__ == "__main__":
    main()
