"""Screenshots of every tab of the running app, for the README.

    python docs/make_screenshots.py   # needs Debian's chromium, the shipped checkpoints and ../shared/data

Starts app.py on loopback, drives each tab in headless Chromium (Playwright) and writes
docs/<tab>.png.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from emodiff.app_process import make_study, serving
from emodiff.data import DEFAULT_DATA_ROOT
from emodiff.service import CHECKPOINTS

ROOT = Path(__file__).resolve().parents[1]

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
CLIP = ROOT / "examples" / "ravdess_angry_actor12.wav"
# One RAVDESS actor's first take of each emotion, both intensities where there are two.
SPEAKER_CLIPS = sorted((DEFAULT_DATA_ROOT / "ravdess" / "Actor_12").glob("03-01-0[134567]-0?-01-01-12.*"))


def main() -> None:
    from playwright.sync_api import sync_playwright

    study = Path(tempfile.mkdtemp()) / "study"
    make_study(study, 6)
    with serving(CHECKPOINTS, study) as (_, url), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1100})
        page.goto(url)

        def shot(name: str) -> None:
            page.wait_for_timeout(800)
            page.screenshot(path=str(ROOT / "docs" / f"{name}.png"), full_page=True)

        page.locator("input[type=file]").first.set_input_files(str(CLIP))
        page.get_by_role("button", name="Recognise").click()
        page.get_by_test_id("label-output-value").first.wait_for(timeout=120_000)
        shot("recognise")

        page.get_by_text("Several clips of one speaker").click()
        page.locator("input[type=file][multiple]").first.set_input_files([str(p) for p in SPEAKER_CLIPS])
        page.get_by_role("button", name="Recognise all").click()
        page.get_by_text(SPEAKER_CLIPS[-1].name).last.wait_for(timeout=120_000)
        shot("recognise_speaker")
        page.get_by_text("Several clips of one speaker").click()  # closed again

        page.get_by_role("tab", name="Enhance").click()
        page.wait_for_timeout(1000)
        page.locator("input[type=file]").last.set_input_files(str(CLIP))
        page.get_by_role("button", name="Enhance", exact=True).click()
        page.get_by_text("confidences after").wait_for(timeout=120_000)
        page.wait_for_timeout(15_000)
        shot("enhance")

        page.get_by_role("tab", name="Generate").click()
        page.get_by_role("button", name="Generate", exact=True).click()
        page.wait_for_timeout(20_000)
        shot("generate")

        page.get_by_role("tab", name="Listening test").click()
        page.get_by_label("annotator ID").fill("demo_annotator")
        page.get_by_role("button", name="Start / continue").click()
        page.wait_for_timeout(3_000)
        shot("listening_test")

        page.get_by_role("tab", name="About").click()
        shot("about")
        browser.close()


if __name__ == "__main__":
    main()
