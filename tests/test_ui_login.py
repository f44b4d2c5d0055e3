"""Logging in to the web app in a real Chromium: through a real OpenID Connect provider (panva's oidc-provider on
Node, on 127.0.0.1) and with the config's argon2-hashed passwords. Each role then sees only what it may."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from playwright.sync_api import Browser, Page, expect

from tests.browser import opened_page, wait_until_up
from tests.conftest import BIN, REPO, home_sharing

PROVIDER = REPO / "tests" / "oidc"


def _access(admin: str, *users: str) -> str:
    listed = ", ".join(f'"{user}" = ["support"]' for user in users)
    return f'[access]\nadmins = ["{admin}"]\nusers = {{ {listed} }}\n'


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve(command: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with log.open("w") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def provider_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    """The provider, and the port of the app it lets users back into."""
    if not (PROVIDER / "node_modules" / "oidc-provider").is_dir():
        pytest.fail("the login tests need the OIDC provider: `make test` installs it (npm ci in tests/oidc)")
    port, app_port = _free_port(), _free_port()
    redirect = f"http://127.0.0.1:{app_port}/oauth2callback"
    log = tmp_path_factory.mktemp("oidc") / "provider.log"
    node = _serve(["node", str(PROVIDER / "provider.mjs"), str(port), "assistant", "client-secret", redirect], log)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/.well-known/openid-configuration", node, seconds=60)
        yield port, app_port
    finally:
        _stop(node)


@contextmanager
def _serving_app(home: Path, config: str, port: int) -> Iterator[str]:
    """`assistant ui` on ``home`` with ``config``, until the block ends."""
    (home / "config.toml").write_text(config)
    command = [str(BIN / "assistant"), "ui", "--port", str(port), "--home", str(home)]
    server = _serve(command, home.parent / "streamlit.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/_stcore/health", server)
        yield url
    finally:
        _stop(server)


@pytest.fixture(scope="module")
def oidc_app(
    tmp_path_factory: pytest.TempPathFactory, sample_home: Path, provider_port: tuple[int, int]
) -> Iterator[str]:
    provider, port = provider_port
    home = home_sharing(tmp_path_factory.mktemp("oidc-app") / "home", sample_home, "models", "index")
    config = (
        '[login]\nmode = "oidc"\n'
        f'server_metadata_url = "http://127.0.0.1:{provider}/.well-known/openid-configuration"\n'
        'client_id = "assistant"\nclient_secret = "client-secret"\n'
        f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        'cookie_secret = "a-long-random-string-for-the-tests-only"\nprompt = "login"\n'
        # a listed address the provider has not verified is not proof of who logs in
        + _access(
            "root@example.test", "alice@example.test", "unverified-alice@example.test", "silent-alice@example.test"
        )
    )
    with _serving_app(home, config, port) as url:
        yield url


@pytest.fixture(scope="module")
def password_app(tmp_path_factory: pytest.TempPathFactory, sample_home: Path) -> Iterator[str]:
    home = home_sharing(tmp_path_factory.mktemp("password-app") / "home", sample_home, "models", "index")
    hashes = {name: PasswordHasher().hash(f"{name}-passphrase") for name in ("root", "alice")}
    config = (
        '[login]\nmode = "password"\n[login.passwords]\n'
        + "".join(f'{name} = "{hashed}"\n' for name, hashed in hashes.items())
        + _access("root", "alice")
    )
    with _serving_app(home, config, _free_port()) as url:
        yield url


@pytest.fixture
def fresh_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    with opened_page(browser, request.node.name, height=1600, timeout_s=120) as opened:
        yield opened


def _sees_only_its_role(page: Page, app: str, admin: bool) -> None:
    navigation = page.get_by_test_id("stSidebarNav")
    expect(navigation).to_contain_text("Chat")
    expect(navigation.get_by_text("Adapters")).to_have_count(1 if admin else 0)
    expect(navigation.get_by_text("Evaluation")).to_have_count(1 if admin else 0)
    if admin:
        navigation.get_by_text("Adapters").click()
        expect(page.get_by_text("Train a new version")).to_be_visible()
    else:
        page.goto(f"{app}/adapters")  # typed into the address bar
        expect(page.get_by_text("Train a new version")).to_have_count(0)


def _oidc_log_in(page: Page, app: str, name: str) -> None:
    page.goto(app)
    page.get_by_role("button", name="Log in").click()
    page.locator("input[name=login]").fill(name)  # the provider's own login form, on its own port
    page.locator("input[name=password]").fill("any")
    page.locator("button[type=submit]").click()
    page.locator("button[type=submit]").click()  # the provider's consent page: "Continue"
    expect(page.get_by_test_id("stSidebar")).to_contain_text(f"Logged in as {name}@example.test")


@pytest.mark.parametrize(("name", "admin"), [("root", True), ("alice", False)])
def test_oidc_login_and_each_role_sees_only_what_it_may(
    fresh_page: Page, oidc_app: str, name: str, admin: bool
) -> None:
    fresh_page.goto(oidc_app)
    expect(fresh_page.get_by_text("Log in to use the assistant")).to_be_visible()
    expect(fresh_page.get_by_test_id("stChatInput")).to_have_count(0)  # nothing before logging in
    _oidc_log_in(fresh_page, oidc_app, name)
    expect(fresh_page.get_by_test_id("stChatInput")).to_be_visible()
    _sees_only_its_role(fresh_page, oidc_app, admin)


@pytest.mark.parametrize(
    ("name", "refusal"),
    [
        ("mallory", "the config's access lists do not name you"),
        ("unverified-alice", "an email it has not verified"),  # listed, but the provider vouches for nothing
        ("silent-alice", "an email it has not verified"),  # no email_verified claim at all: not proof either
    ],
)
def test_someone_the_provider_knows_but_the_config_does_not_is_refused(
    fresh_page: Page, oidc_app: str, name: str, refusal: str
) -> None:
    fresh_page.goto(oidc_app)
    fresh_page.get_by_role("button", name="Log in").click()
    fresh_page.locator("input[name=login]").fill(name)
    fresh_page.locator("input[name=password]").fill("any")
    fresh_page.locator("button[type=submit]").click()
    fresh_page.locator("button[type=submit]").click()
    expect(fresh_page.get_by_text(refusal)).to_be_visible()
    expect(fresh_page.get_by_test_id("stChatInput")).to_have_count(0)


@pytest.mark.parametrize(("name", "admin"), [("root", True), ("alice", False)])
def test_password_login_and_each_role_sees_only_what_it_may(
    fresh_page: Page, password_app: str, name: str, admin: bool
) -> None:
    fresh_page.goto(password_app)
    fresh_page.get_by_role("textbox", name="User name").fill(name)
    fresh_page.get_by_role("textbox", name="Password").fill("wrong password")
    fresh_page.get_by_role("button", name="Log in").click()
    expect(fresh_page.get_by_text("Wrong user name or password.")).to_be_visible()
    fresh_page.get_by_role("textbox", name="Password").fill(f"{name}-passphrase")
    fresh_page.get_by_role("button", name="Log in").click()
    expect(fresh_page.get_by_test_id("stSidebar")).to_contain_text(f"Logged in as {name}")
    _sees_only_its_role(fresh_page, password_app, admin)


@pytest.mark.parametrize(
    ("email_verified", "trusted", "proof"),
    [
        (True, False, True),
        ("true", False, True),
        (False, True, False),  # marked unverified: refused even where the provider is trusted
        ("false", True, False),
        (None, False, False),  # no claim at all (Entra ID's default): refused unless the config says otherwise
        (None, True, True),
        ("yes", False, False),
    ],
)
def test_an_email_is_proof_only_when_verified_or_explicitly_trusted(
    email_verified: object, trusted: bool, proof: bool
) -> None:
    from assistant.core.config import LoginSettings
    from ui.login import email_is_proof

    assert email_is_proof(email_verified, LoginSettings(trust_unverified_email=trusted)) is proof
