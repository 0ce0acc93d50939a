"""The page in a real browser: headless Chromium (Debian's chromium + chromium-driver) driven by Selenium,
against one server per module on 127.0.0.1. Screenshots are kept in the folder FCN4_SCREENSHOTS names
(else pytest's temporary folder, printed)."""
import base64
import os
import shutil
import time
from pathlib import Path

import pytest

pytest.importorskip("selenium")
pytestmark = pytest.mark.slow

CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser"))), None)
DRIVER = shutil.which("chromedriver")
if not (CHROMIUM and DRIVER):
    pytest.skip("Debian's chromium and chromium-driver are not installed (apt-get install -y chromium "
                "chromium-driver; .ci/run installs them)", allow_module_level=True)


@pytest.fixture(scope="module")
def running(library):
    from fcn4.app.server import serving

    with serving(library[0], port=0, max_upload_mb=4, workers=0) as server:
        assert server.app.state.neighbours.wait(60)
        yield server


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    folder = Path(os.environ.get("FCN4_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"screenshots in {folder}")
    return folder


@pytest.fixture(scope="module")
def browser(running):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--autoplay-policy=no-user-gesture-required", "--window-size=1280,900", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-features=MediaRouter,OptimizationHints", "--proxy-server=direct://",
                 "--proxy-bypass-list=*"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(60)
    driver.get(running.url)  # the printed URL: the token becomes a cookie
    yield driver
    driver.quit()


def wait_for(condition, timeout=30.0, what="the page"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def rows(driver):
    return driver.execute_script(
        "return [...document.querySelectorAll('#tracks tbody tr td.path')].map(td => td.textContent)")


def test_the_table_shows_the_store_and_a_filter_narrows_it(browser, running, library, shots):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    assert "token=" not in browser.current_url   # moved into a cookie
    every = wait_for(lambda: rows(browser) if len(rows(browser)) == 6 else None, what="the table")
    assert sorted(os.path.basename(p) for p in every) == sorted(os.path.basename(p) for n, p in library[1].items()
                                                                 if n != "query.wav")
    assert "6 tracks" in browser.find_element(By.ID, "count").text
    browser.save_screenshot(str(shots / "library.png"))
    browser.find_element(By.ID, "q").send_keys("of one")
    wait_for(lambda: [os.path.basename(p) for p in rows(browser)] == ["copy of one.wav"], what="the search")
    browser.find_element(By.ID, "q").clear()
    browser.execute_script("document.getElementById('q').dispatchEvent(new Event('input'))")
    wait_for(lambda: len(rows(browser)) == 6, what="the search cleared")
    expected = running.app.state.catalog.page(tag="quiet", at_least=0.8).total
    assert 0 < expected < 6
    Select(browser.find_element(By.ID, "tag")).select_by_value("quiet")
    browser.find_element(By.ID, "min").send_keys("0.8")
    wait_for(lambda: len(rows(browser)) == expected, what="the tag filter")
    browser.save_screenshot(str(shots / "library-filtered.png"))


def test_a_track_plays_and_lists_its_near_duplicate_first(browser, running, shots):
    from selenium.webdriver.common.by import By

    browser.get(running.url.split("?")[0])
    wait_for(lambda: len(rows(browser)) == 6, what="the table")
    link = next(a for a in browser.find_elements(By.CSS_SELECTOR, "#tracks td.path a")
                if a.text.endswith("/one.wav") and "copy" not in a.text)
    link.click()
    wait_for(lambda: browser.execute_script("return document.getElementById('track')?.dataset.ready"),
             what="the track page")
    names = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#neighbours li.neighbour .head a")]
    assert names[0] == "copy of one.wav" and "one.wav" not in names
    assert browser.find_elements(By.CSS_SELECTOR, "#neighbours li.neighbour audio")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#tags .bar")) == 20
    assert browser.execute_script("return document.getElementById('clip').style.width") not in ("", "0%")
    browser.execute_script("document.getElementById('player').muted = true; document.getElementById('player').play()")
    wait_for(lambda: browser.execute_script("return document.getElementById('player').currentTime") > 0.5,
             what="the player's currentTime to advance")
    browser.execute_script("document.getElementById('player').currentTime = 30")  # a seek: a range request
    wait_for(lambda: browser.execute_script("return document.getElementById('player').currentTime") > 30.2,
             what="playback after a seek")
    browser.execute_script("document.getElementById('player').pause()")
    browser.save_screenshot(str(shots / "track.png"))


def test_a_dropped_file_is_tagged_and_finds_its_neighbours(browser, running, library, shots):
    from selenium.webdriver.common.by import By

    browser.get(running.url.split("?")[0])
    wait_for(lambda: len(rows(browser)) == 6, what="the table")
    data = base64.b64encode(Path(library[1]["query.wav"]).read_bytes()).decode()
    browser.execute_script("""
        const bytes = Uint8Array.from(atob(arguments[0]), c => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], "query.wav", {type: "audio/wav"}));
        document.getElementById("drop").dispatchEvent(
            new DragEvent("drop", {dataTransfer: transfer, bubbles: true, cancelable: true}));
    """, data)
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#drop-neighbours li.neighbour"), timeout=120,
             what="the dropped file's neighbours")
    assert browser.find_element(By.CSS_SELECTOR, "#drop-result h2").text == "query.wav"
    assert len(browser.find_elements(By.CSS_SELECTOR, "#drop-tags .bar")) == 10
    names = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#drop-neighbours li.neighbour .head a")]
    assert set(names[:2]) == {"one.wav", "copy of one.wav"}
    browser.execute_script("document.getElementById('drop').scrollIntoView()")
    browser.save_screenshot(str(shots / "dropped.png"))
    assert os.listdir(running.app.state.uploads.folder) == []


def test_the_pages_log_no_errors(browser, running):
    # every script, style and request of both pages allowed by the page's own Content-Security-Policy
    browser.get(running.url.split("?")[0])
    wait_for(lambda: len(rows(browser)) == 6, what="the table")
    from selenium.webdriver.common.by import By

    browser.find_element(By.CSS_SELECTOR, "#tracks td.path a").click()
    wait_for(lambda: browser.execute_script("return document.getElementById('track')?.dataset.ready"),
             what="the track page")
    severe = [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not severe
