"""The web app in headless Chromium: pick the tiny model, generate, get audio and a MIDI download.

Needs Debian ``chromium`` + ``chromium-driver`` and PyPI ``streamlit`` + ``selenium`` (CI installs
them); skipped with the reason when one is missing. Run alone with ``pytest -m browser``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import free_port, melody_notes
from midigen_tf.io.midi import read_notes, write_notes

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
WAIT = 300  # seconds: the app imports TensorFlow and builds the model on the first click


@pytest.fixture(scope="module")
def weights_root(tmp_path_factory) -> Path:
    """A tiny classic model trained for one epoch on three tiny pieces."""
    from midigen_tf import registry
    from midigen_tf.pipelines.base import DataSource
    from midigen_tf.train import train

    base = tmp_path_factory.mktemp("app")
    for i in range(3):
        write_notes(melody_notes(40, seed=i), base / "songs" / f"s{i}.mid")
    config = registry.make_config("lstm", {"units": [8, 8], "sequence_length": 8, "dense_units": 8,
                                           "epochs": 1, "batch_size": 32})
    source = DataSource(data_dir=base / "songs", cache_dir=None, options={"progress": False})
    train(config, source, base / "weights" / "tiny", verbose=0, echo=lambda *_: None)
    return base / "weights"


@pytest.fixture(scope="module")
def app_url(weights_root):
    pytest.importorskip("streamlit")
    port = free_port()
    log = open(weights_root.parent / "streamlit.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "midigen_tf.cli", "app", "--port", str(port), "--address",
         "127.0.0.1", "--headless", "--weights-root", str(weights_root)],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env=dict(os.environ))
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=5) as r:
                    if r.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail("streamlit did not start:\n"
                            + (weights_root.parent / "streamlit.log").read_text()[-2000:])
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture
def browser(tmp_path):
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("needs chromium and chromedriver (apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1000", "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(arg)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(CHROMEDRIVER))
    driver.execute_cdp_cmd("Page.setDownloadBehavior",
                           {"behavior": "allow", "downloadPath": str(downloads)})
    driver.downloads = downloads
    try:
        yield driver
    finally:
        driver.quit()


def _button(driver, text: str):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT).until(ec.element_to_be_clickable(
        (By.XPATH, f"//button[normalize-space(.)='{text}']")))


@pytest.mark.slow
def test_generate_listen_and_download_midi(app_url, browser, weights_root):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(app_url)
    _button(browser, "Generate").click()
    audio = WebDriverWait(browser, WAIT).until(
        lambda d: d.find_elements(By.TAG_NAME, "audio") or False)[0]
    src = WebDriverWait(browser, 30).until(lambda d: audio.get_attribute("src") or False)
    with urllib.request.urlopen(src, timeout=30) as r:  # the page's audio is a real WAV
        wav = r.read()
    assert wav[:4] == b"RIFF" and wav[8:12] == b"WAVE" and len(wav) > 1000

    # piano roll (and score) shown: the page sends them after the audio, so wait for them
    assert WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.XPATH, "//img") or False)
    _button(browser, "Download MIDI").click()
    midi = WebDriverWait(browser, 60).until(
        lambda d: [p for p in browser.downloads.iterdir() if p.suffix == ".mid"] or False)[0]
    assert midi.read_bytes()[:4] == b"MThd"
    assert len(read_notes(midi)) > 0
    log = (weights_root.parent / "streamlit.log").read_text()  # the model was loaded by now
    chatter = [line for line in log.splitlines() if any(
        s in line for s in ("cuda", "cuInit", "oneDNN", "rebuild TensorFlow", "absl"))]
    assert chatter == [], log[-3000:]  # TensorFlow's start-up lines stay out of the app's log
