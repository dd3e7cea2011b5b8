"""The operator console in a real browser (Debian's Chromium, driven by Selenium), against
the real hub (`lapor-hub up --console`, with its tracker) on a broker of the module's own,
with the simulated agency apps on loopback.

An operator logs in, finds a report a citizen filed through an app and follows it to
delivered; replays a dead letter (dry run, confirmation, progress) and sees it delivered;
sees an overdue report on the SLA page; an agency's operator is refused another agency's
report by URL and by search. A screenshot of each page is written to SCREENSHOTS.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from selenium import webdriver
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait

from connectors.simulator import free_port, serve
from hub import topics
from hub.kafka import make_producer
from hub.runtime import wait_until
from hub.samples import sample_report
from hub.sdk.reports import hub_id as hub_id_of
from hub.serialization import SchemaStore, SingleObjectCodec, TopicSerializer
from hub.serialization.store import default_schema_dir
from tests.helpers import routed
from tests.integration.test_hub_under_faults import ORIGIN, Network

pytestmark = [pytest.mark.kafka, pytest.mark.browser, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("LAPOR_HUB_SCREENSHOTS", ROOT / "build" / "screenshots"))
HUB = [sys.executable, "-m", "hub"]
PASSWORD = "kata-sandi-yang-panjang-1"
SERIALIZER = TopicSerializer(SingleObjectCodec(SchemaStore(default_schema_dir())))
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


class Site:
    """The running hub and console, and the simulated apps around them."""

    def __init__(
        self, bootstrap: str, network: Network, url: str, config: Path, env: dict[str, str]
    ) -> None:
        self.bootstrap, self.network, self.url, self.config = bootstrap, network, url, config
        self.env = env


@pytest.fixture(scope="module")
def site(fresh_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("console")
    network = Network()
    with contextlib.ExitStack() as stack:
        urls = {name: stack.enter_context(serve(app.app)) for name, app in network.apps().items()}
        config = network.config(urls, 1)
        metrics, port = free_port(), free_port()
        config["metrics"] = {"host": "127.0.0.1", "port": metrics}
        config["console"] = {
            "port": port,
            "secure_cookies": False,  # plain HTTP on loopback
            "accounts": str(folder / "accounts.yaml"),
        }
        path = folder / "hub.yaml"
        path.write_text(yaml.safe_dump(config))
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": fresh_bootstrap,
            "LAPOR_HUB_CONSOLE_PASSWORD": PASSWORD,
            "LAPOR_HUB_HOME": str(folder / "home"),
        }
        for name, role in (("nasional", "national"), ("surabaya", "agency")):
            agency = ["--agency", "pemkot-surabaya"] if role == "agency" else []
            subprocess.run(
                [*HUB, "console", "user", "add", name, "--role", role, *agency,
                 "--config", str(path)],
                env=env, check=True, capture_output=True,
            )  # fmt: skip
        log = (folder / "up.log").open("ab")
        hub = subprocess.Popen(
            [*HUB, "up", "--config", str(path), "--console"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            assert wait_until(lambda: _answers(url), 60), "the console did not start"
            yield Site(fresh_bootstrap, network, url, path, env)
        finally:
            hub.terminate()
            try:
                hub.wait(30)
            except subprocess.TimeoutExpired:
                hub.kill()


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/login", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail(
            "Chromium and its driver are needed: `make test` installs them "
            "(apt-get install chromium chromium-driver)",
            pytrace=False,
        )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--window-size=1280,1400", "--lang=id"):  # fmt: skip
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


def shot(browser: WebDriver, name: str) -> None:
    height = browser.execute_script("return document.body.scrollHeight")
    browser.set_window_size(1280, min(max(height + 100, 800), 6000))
    browser.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


def log_in(browser: WebDriver, site: Site, user: str) -> None:
    browser.delete_all_cookies()
    browser.get(f"{site.url}/login")
    browser.find_element(By.NAME, "username").send_keys(user)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    click_through(browser, By.ID, "login-button")
    assert wait_until(lambda: "/login" not in browser.current_url, 10), browser.page_source[:500]


def click_through(browser: WebDriver, by: str, target: str, timeout: float = 60) -> None:
    """Click a link or a form's button and wait for the page it leads to: a click returns
    before the browser has navigated, and reading the old page would race the server."""
    page = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(by, target).click()
    WebDriverWait(browser, timeout).until(lambda _: gone(page))
    WebDriverWait(browser, timeout).until(
        lambda b: b.execute_script("return document.readyState") == "complete"
    )


def gone(element) -> bool:
    """Whether ``element``'s page has been left. Chromium, asked in the middle of the
    navigation, may answer that the node "does not belong to the document" (an unknown
    error) instead of a stale reference: both mean the old page is gone."""
    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as exc:
        if "does not belong to the document" not in str(exc):
            raise
        return True
    return False


def text_of(browser: WebDriver, element_id: str) -> str:
    try:
        return browser.find_element(By.ID, element_id).text
    except NoSuchElementException:
        return ""


def reload_until(browser: WebDriver, url: str, check, timeout: float = 90) -> bool:
    def again() -> bool:
        browser.get(url)
        return bool(check())

    return wait_until(again, timeout, interval=1.0)


def file_report(site: Site, title: str) -> str:
    """A citizen of Surabaya files a broken road through the origin app: routed to the
    city (open311-surabaya). Returns the app's id of the report."""
    filed = site.network.origin.citizen_files(
        judul=title,
        isi=f"{title}. Jalan di Kecamatan Wonokromo berlubang dalam, sudah tiga minggu.",
        lokasi={"kode_wilayah": "35.78", "alamat": "Jl. Raya Darmo, Wonokromo, Surabaya"},
    )
    return filed["tracking_id"]


def test_an_operator_follows_a_report_to_delivered(site: Site, browser: WebDriver) -> None:
    source_id = file_report(site, "Jalan Darmo berlubang")
    log_in(browser, site, "nasional")
    assert reload_until(
        browser, f"{site.url}/", lambda: "open311-surabaya" in text_of(browser, "sides")
    )
    shot(browser, "01-network")

    search = f"{site.url}/reports?q={source_id}"
    assert reload_until(
        browser, search, lambda: browser.find_elements(By.CSS_SELECTOR, "#found a")
    ), "the report never appeared in the console"
    shot(browser, "02-reports-search")
    click_through(browser, By.CSS_SELECTOR, "#found a")
    report_url = browser.current_url
    assert "Jalan Darmo berlubang" in text_of(browser, "report-title")
    hub_id = text_of(browser, "hub-id")
    assert hub_id == hub_id_of(ORIGIN, source_id)

    # delivered: the city's app acknowledged it (RECEIVED), and the reporter stays hidden
    assert reload_until(browser, report_url, lambda: "RECEIVED" in text_of(browser, "clocks")), (
        text_of(browser, "timeline")
    )
    assert any(key.startswith(f"{hub_id}:") for key in site.network.open311.state.idempotency)
    assert "disembunyikan" in text_of(browser, "reporter")
    shot(browser, "03-report")

    # on a phone: the page fits the screen's width (wide tables scroll inside their box)
    browser.set_window_size(390, 844)
    for page in (report_url, f"{site.url}/sla", f"{site.url}/"):
        browser.get(page)
        overflow = browser.execute_script(
            "return document.documentElement.scrollWidth - window.innerWidth"
        )
        assert overflow <= 0, f"{page} is {overflow} px wider than a phone's screen"
    browser.get(report_url)
    browser.save_screenshot(str(SCREENSHOTS / "03-report-phone.png"))
    browser.set_window_size(1280, 1400)


def test_a_dead_letter_is_replayed_and_delivered(site: Site, browser: WebDriver) -> None:
    app = site.network.open311.state
    app.fail_next(1, status=422, method="POST")  # the next delivery is refused for good
    source_id = file_report(site, "Lampu jalan padam di Darmo")
    hub_id = hub_id_of(ORIGIN, source_id)
    log_in(browser, site, "nasional")
    letters = f"{site.url}/letters?stage=deliver&connector=open311-surabaya"
    assert reload_until(
        browser, letters, lambda: browser.find_elements(By.CSS_SELECTOR, "#letters input")
    ), "no dead letter appeared"
    assert not any(key.startswith(f"{hub_id}:") for key in app.idempotency)
    shot(browser, "04-dead-letters")
    click_through(browser, By.CSS_SELECTOR, "#letters a")
    assert "HTTP 422" in text_of(browser, "letter-reason")
    shot(browser, "05-dead-letter")

    browser.get(letters)
    click_through(browser, By.ID, "dry-run")
    assert "1" in text_of(browser, "preview")
    shot(browser, "06-replay-dry-run")
    assert not any(
        key.startswith(f"{hub_id}:") for key in app.idempotency
    )  # a dry run sends nothing
    click_through(browser, By.ID, "confirm")
    assert wait_until(lambda: text_of(browser, "replay-done"), 30), text_of(browser, "progress")
    shot(browser, "07-replay-done")
    assert wait_until(lambda: any(k.startswith(f"{hub_id}:") for k in app.idempotency), 60), (
        "the replayed delivery never reached the city's app"
    )
    assert reload_until(
        browser, f"{site.url}/reports/{hub_id}", lambda: "RECEIVED" in text_of(browser, "clocks")
    )
    assert reload_until(
        browser,
        f"{site.url}/audit?action=dlq",
        lambda: "console:nasional" in text_of(browser, "trail"),
        timeout=30,
    )
    assert text_of(browser, "chain").startswith("Rantai utuh")
    shot(browser, "08-audit")


def overdue_report(site: Site, handler: str) -> str:
    """A report routed to ``handler`` 60 days ago: its completion clock (30 working days)
    has run out."""
    import random

    sample = sample_report(random.Random(5))
    source_id = f"LAMA-{time.time_ns()}"
    received = datetime.now(UTC) - timedelta(days=60)
    report = {
        **sample,
        "title": "Bantuan sosial tidak pernah diterima",
        "source": {**sample["source"], "connector": ORIGIN, "source_id": source_id},
        "hub_id": hub_id_of(ORIGIN, source_id),
        "received_at": received,
    }
    producer = make_producer(site.bootstrap)
    value = SERIALIZER.serialize(topics.ROUTED, routed(report, handler))
    producer.produce(topics.ROUTED, key=report["hub_id"].encode(), value=value)
    assert producer.flush(30) == 0
    return report["hub_id"]


def test_an_overdue_report_shows_on_the_sla_page(site: Site, browser: WebDriver) -> None:
    hub_id = overdue_report(site, "kemensos")
    log_in(browser, site, "nasional")
    overdue = f"/reports/{hub_id}"
    assert reload_until(
        browser,
        f"{site.url}/sla",
        lambda: browser.find_elements(By.CSS_SELECTOR, f'#overdue a[href="{overdue}"]'),
        timeout=120,
    ), "the overdue report is not on the SLA page"
    assert "Bantuan sosial tidak pernah diterima" in text_of(browser, "overdue")
    # the tracker marks its clock overdue at its next tick: the agency's row counts it
    assert reload_until(
        browser, f"{site.url}/sla", lambda: text_of(browser, "overdue-kemensos-completion") == "1"
    )
    assert "Kementerian Sosial" in text_of(browser, "sla")
    shot(browser, "09-sla")
    browser.get(f"{site.url}/routing")
    browser.find_element(By.ID, "pasted").send_keys(
        "Sekolah SMA rusak\nAtap SMA Negeri 5 Surabaya bocor dan plafon runtuh, mohon diperbaiki"
    )
    click_through(browser, By.ID, "explain")
    assert "pemprov-jawa-timur" in text_of(browser, "handlers")
    shot(browser, "10-routing")


def test_an_agency_operator_never_sees_another_agencys_report(
    site: Site, browser: WebDriver
) -> None:
    others = overdue_report(site, "kemensos")  # kemensos's, filed through another agency's app
    log_in(browser, site, "nasional")
    assert reload_until(browser, f"{site.url}/reports/{others}", lambda: text_of(browser, "hub-id"))

    log_in(browser, site, "surabaya")
    browser.get(f"{site.url}/reports/{others}")
    assert text_of(browser, "message") == "Tidak ditemukan."
    assert others not in browser.page_source
    shot(browser, "11-agency-refused")
    browser.get(f"{site.url}/reports?q={others}")
    assert text_of(browser, "none")
    browser.get(f"{site.url}/reports?q=kemensos")
    assert others not in browser.page_source
    browser.get(f"{site.url}/audit")
    assert text_of(browser, "message") == "Anda tidak berhak melihat ini."
    browser.get(f"{site.url}/sla")
    assert "Kementerian Sosial" not in text_of(browser, "sla")
    shot(browser, "12-agency-sla")


def test_forms_need_their_csrf_token(site: Site) -> None:
    with httpx.Client(base_url=site.url) as client:
        page = client.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        answer = client.post(
            "/login", data={"username": "nasional", "password": PASSWORD, "csrf": "forged"}
        )
        assert answer.status_code == 403
        answer = client.post(
            "/login", data={"username": "nasional", "password": PASSWORD, "csrf": token}
        )
        assert answer.status_code == 303
        # logged in, a replay without the session's token is refused before anything runs
        answer = client.post("/letters/replay", data={"letter": "deliver:0:0", "confirm": "1"})
        assert answer.status_code == 403
        assert "content-security-policy" in answer.headers


def test_the_console_runs_as_a_process_of_its_own(site: Site, tmp_path: Path) -> None:
    """`lapor-hub console` alone, beside the hub: it reads the same state."""
    port = free_port()
    config = yaml.safe_load(site.config.read_text())
    config["console"]["port"] = port
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump(config))
    with (tmp_path / "console.log").open("ab") as log:
        process = subprocess.Popen(
            [*HUB, "console", "--config", str(path)],
            env=site.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_until(lambda: _answers(url), 60), (tmp_path / "console.log").read_text()
        with httpx.Client(base_url=url) as client:
            token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
            client.post(
                "/login", data={"username": "nasional", "password": PASSWORD, "csrf": token}
            )
            assert wait_until(
                lambda: "Jalan Darmo berlubang" in client.get("/reports?q=pemkot-surabaya").text,
                60,
            )
    finally:
        process.terminate()
        process.wait(30)
