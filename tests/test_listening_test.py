"""The listening test as annotators and an admin meet it: two annotators at once in headless
Chromium on a labelling test with catch trials, the admin view's numbers checked against a hand
computation; the A/B and MUSHRA pages driven through the API. All `slow`: each serves the app."""
import pytest
from gradio_client import Client

from emodiff.study import MAX_STIMULI, Study

from .test_app import CHROMIUM_FLAGS, TOKEN, chromium, serving, start_listening  # noqa: F401 (a fixture)
from .test_study_designs import _clips, make_label_study

pytestmark = pytest.mark.slow


def _annotate(page, url: str, name: str, emotion: str, rating: str, clips: int) -> None:
    """One step at a time, so that two annotators' steps interleave: yields after each answer."""
    from playwright.sync_api import expect

    submit = start_listening(page, url, name)
    for i in range(1, clips + 1):
        expect(page.get_by_text(f"Clip {i} of {clips}")).to_be_visible(timeout=30_000)
        expect(submit).to_be_disabled()  # not played yet
        assert not any(page.get_by_role("radio", name=label).is_checked() for label in (rating, emotion))
        page.get_by_label("Play", exact=True).first.click()
        expect(submit).to_be_enabled(timeout=15_000)
        if i == 1:  # a refused submit leaves every control usable
            submit.click()
            expect(page.get_by_text("Please choose one of").first).to_be_visible(timeout=15_000)
        page.get_by_role("radio", name=emotion).check(timeout=5_000)
        page.get_by_role("radio", name=rating).check()
        submit.click()
        yield
    expect(page.get_by_text(f"All {clips} clips done")).to_be_visible(timeout=30_000)


def test_two_annotators_at_once_catch_trials_and_the_admin_view(tmp_path, tiny_release, chromium):  # noqa: F811
    """alice, bob and carol answered before (the hand-computed set of test_study_designs); two
    annotators then work side by side in two browsers: b1 answers "angry, 4 Good" to every clip
    (passes the anchor and the repeat), b2 "sad, 2 Poor" (fails the anchor: 1 of 2 < 75 %,
    excluded). Worked out by hand over alice, bob and b1 (carol and b2 excluded, catch clips
    left out): real clips recognised 5 of 6 (83 %), MOS (5+4+4+4+4+4)/6 = 4.17; enhanced 1 of 3,
    MOS (3+2+4)/3 = 3.00; b1's agreement with the others 4 of 16 pairings (25 %)."""
    from playwright.sync_api import expect, sync_playwright

    study = make_label_study(tmp_path / "study")
    with serving(study, tiny_release) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        pages = [browser.new_context().new_page() for _ in range(2)]
        steps = [_annotate(pages[0], url, "browser_b1", "angry", "4 Good", 6),
                 _annotate(pages[1], url, "browser_b2", "sad", "2 Poor", 6)]
        for _ in range(6):  # interleaved: an answer of one, then of the other
            for step in steps:
                next(step)
        for step in steps:
            next(step, None)
        pages[1].reload()  # the ID survives a reload
        pages[1].get_by_role("tab", name="Listening test").click()
        expect(pages[1].get_by_label("annotator ID")).to_have_value("browser_b2", timeout=15_000)
        admin = pages[0]
        admin.get_by_text("Admin", exact=True).click()
        admin.get_by_label("admin token").fill(TOKEN)
        admin.get_by_role("button", name="Show summary").click()
        expect(admin.get_by_text("Exclusion rule").first).to_be_visible(timeout=30_000)
        text = admin.locator("table").all_inner_texts()
        browser.close()
    rows = {line.split("\t")[0]: line.split("\t") for table in text for line in table.splitlines()}
    assert rows["browser_b1"][1:4] == ["6 of 6", "2 of 2", "25 %"] and rows["browser_b1"][4] == ""
    assert rows["browser_b2"][1:3] == ["6 of 6", "1 of 2"] and rows["browser_b2"][4] == "yes"
    assert rows["carol"][4] == "yes"
    assert rows["real"][1:4] == ["6", "3", "2"] and rows["real"][4].startswith("83 % [")
    assert rows["real"][5].startswith("4.17 [")
    assert rows["enhanced"][4].startswith("33 % [") and rows["enhanced"][5].startswith("3.00 [")


@pytest.mark.parametrize("design", ["ab", "mushra"])
def test_ab_and_mushra_pages_serve_and_record(design, tmp_path, tiny_release):
    study = Study(tmp_path / design, design)
    clips = {"r": ("real", "sad"), "h": ("reference", "sad"), "a": ("anchor", "sad"), "e": ("enhanced", "happy")}
    _clips(study, clips)
    if design == "ab":
        study.add_trial("t1", ["e", "r"], "Which clip sounds more happy?", meta={"comparison": "enhanced vs real"})
    else:
        study.add_trial("t1", ["h", "a", "e"], "How close?", reference="r")
    with serving(study, tiny_release) as url:
        client = Client(url, verbose=False)
        served = client.predict("api_user", api_name="/study_next")
        assert served[0] == "t1" and served[-2] == ("Pair 1 of 1" if design == "ab" else "Page 1 of 1")
        assert "**" in served[-1]  # the question
        if design == "ab":
            with pytest.raises(Exception, match="choose A or B"):
                client.predict("api_user", "t1", None, "", api_name="/study_submit")
        answer = ["A"] if design == "ab" else [100, 10, 60] + [0] * (MAX_STIMULI - 3)
        done = client.predict("api_user", "t1", *answer, "", api_name="/study_submit")
        players = 2 if design == "ab" else 1 + MAX_STIMULI
        assert done[0] == "" and done[1 + players] == f"All 1 {'pairs' if design == 'ab' else 'pages'} done. Thank you!"
        tables, summary = client.predict(TOKEN, api_name="/study_summary")
    row, = study.rows() if design == "ab" else [study.rows()[0]]
    if design == "ab":
        assert row["chosen"] == "A" and summary["comparisons"]["enhanced vs real"]["n"] == 1
    else:
        scores = {r["source"]: r["score"] for r in study.rows()}
        assert sorted(scores.values()) == [10, 60, 100] and summary["annotators"]["api_user"]["catch_trials"] == 1
    assert "Array" not in tables


def test_browser_mushra_page_needs_every_clip_played_and_every_slider_moved(tmp_path, tiny_release,
                                                                            chromium):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    study = Study(tmp_path / "mushra", "mushra")
    _clips(study, {"r": ("real", "sad"), "h": ("reference", "sad"), "a": ("anchor", "sad"),
                   "e": ("enhanced", "happy"), "v": ("vocoded", "sad"), "c": ("clearer", "sad")})
    study.add_trial("t1", ["h", "a", "e", "v", "c"], "How close?", reference="r")
    with serving(study, tiny_release) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        page = browser.new_page()
        submit = start_listening(page, url, "mushra_1")
        expect(page.get_by_text("Page 1 of 1")).to_be_visible(timeout=30_000)
        play = page.locator("button.play-pause-button:visible")  # its label turns to "Pause" while playing
        expect(play).to_have_count(1 + MAX_STIMULI)
        for i in range(1 + MAX_STIMULI):
            expect(submit).to_be_disabled()  # until the reference and every clip have been played
            play.nth(i).click()
        expect(submit).to_be_enabled(timeout=15_000)
        sliders = page.locator("input[type=range]")
        for i, score in enumerate([100, 15, 60, 70]):  # the fifth left untouched
            sliders.nth(i).fill(str(score))
        submit.click()
        expect(page.get_by_text("move each slider").first).to_be_visible(timeout=15_000)
        sliders.nth(4).fill("40")
        submit.click()
        expect(page.get_by_text("All 1 pages done")).to_be_visible(timeout=30_000)
        browser.close()
    rows = study.rows()
    assert sorted(r["score"] for r in rows) == [15, 40, 60, 70, 100] and rows[0]["plays"] >= 6
