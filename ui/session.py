"""What every page shares: the server's one runtime (models loaded once), the transcripts, the job
board, and who is asking.

Settings come from the environment `assistant ui` sets (ASSISTANT_HOME, ASSISTANT_CONFIG_FILE), so
the app serves the same data home and config as the CLI. They are read once, with the runtime built from
them, and again only when a single-user install asks to reload them: a rerun never half-applies an edit.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from assistant.client import RemoteAssistant
from assistant.core.config import ENV_PREFIX, ClientSettings, Settings, load_settings
from assistant.core.errors import UserError, log_failure, server_fault
from assistant.runtime import Runtime
from ingest.manifest import DocumentRecord
from ingest.pipeline import confine
from ui.jobs import JobBoard
from ui.login import identity, logged_in_user
from ui.transcripts import Transcripts


@st.cache_resource(show_spinner="Loading the models…")
def _runtime(home: str | None, config_file: str | None) -> Runtime:
    """The settings and the runtime built from them, once per deployment (the variables that name it)."""
    return Runtime(load_settings())


@st.cache_resource
def _remote(url: str, api_key: str | None, timeout_s: float) -> RemoteAssistant:
    return RemoteAssistant(ClientSettings.model_validate({"url": url, "api_key": api_key, "timeout_s": timeout_s}))


@st.cache_resource
def _transcripts(path: Path) -> Transcripts:
    return Transcripts(path)


@st.cache_resource
def _jobs(home: Path) -> JobBoard:
    return JobBoard(home)


@dataclass(frozen=True)
class Session:
    runtime: Runtime
    user: str | None  # None: no users are configured, so this is a single-user install
    transcripts: Transcripts
    jobs: JobBoard

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    @property
    def assistant(self) -> Runtime | RemoteAssistant:
        """What answers questions: the running `assistant serve` at ``client.url`` (this app then loads no
        model or index to chat), or this process's runtime."""
        client = self.settings.client
        if client.url is None:
            return self.runtime
        key = client.api_key.get_secret_value() if client.api_key else None
        return _remote(str(client.url), key, client.timeout_s)

    @property
    def is_admin(self) -> bool:
        """Admins manage documents, adapters, evaluation and server folders; users chat in their domains."""
        return _is_admin(self.settings, self.user)

    def manageable_domains(self) -> list[str] | None:
        """The domains this user may add documents and adapters to; None = any (an admin, or no access control)."""
        access = self.settings.access
        return None if self.is_admin or not self.user else list(access.users.get(self.user, []))

    def may_remove(self, record: DocumentRecord) -> bool:
        """Admins remove any document; a user only what they uploaded (the files in their uploads folder)."""
        return self.is_admin or Path(record.path).is_relative_to(self.uploads(record.domain))

    def uploads(self, domain: str) -> Path:
        return uploads_folder(self.settings, self.user, domain)

    def server_path(self, typed: str) -> Path:
        """A path typed in a form, only if it lies under ``ingest.allowed_roots`` once resolved."""
        path = Path(typed).expanduser()
        confine([path], self.settings.ingest.allowed_roots)
        return path


def start_page(title: str, *, admins_only: bool = False) -> Session:
    """Load (once) what the page needs, and say who is asking; a bad config or user, or a user on an admin's
    page, stops the page."""
    st.title(title)
    runtime = _loaded_runtime()
    if failed := st.session_state.pop("failed_action", None):
        st.error(failed)
    user = _current_user(runtime.settings)
    session = Session(runtime, user, _transcripts(runtime.settings.ui_db), _jobs(runtime.settings.home))
    if admins_only and not session.is_admin:
        st.error("This page is for admins (the config's `access.admins`).")
        st.stop()
    return session


def visitor_is_admin() -> bool:
    """Whether the navigation shows the admins' pages to whoever is visiting (each page checks again)."""
    runtime = _loaded_runtime()
    return _is_admin(runtime.settings, _claimed_user(runtime.settings))


def _loaded_runtime() -> Runtime:
    try:
        return _runtime(os.environ.get(f"{ENV_PREFIX}HOME"), os.environ.get(f"{ENV_PREFIX}CONFIG_FILE"))
    except UserError as err:
        st.error(f"The configuration cannot be used: {err}")
        st.stop()


def _is_admin(settings: Settings, user: str | None) -> bool:
    """A listed admin; without login and access lists, the one local user."""
    unguarded = settings.login.mode == "none" and not settings.access.users
    return unguarded or (user is not None and user in settings.access.admins)


def _claimed_user(settings: Settings) -> str | None:
    if settings.login.mode != "none":
        return identity(settings.login)
    return st.query_params.get("user") or settings.access.default_user


def uploads_folder(settings: Settings, user: str | None, domain: str) -> Path:
    """Where ``user``'s uploads to ``domain`` are kept: two users' files of one name never meet."""
    return settings.uploads_dir / _folder_name(user or "local") / domain


def _folder_name(user: str) -> str:
    """A folder name for any user name (an identity provider's names are not ours to trust): readable, and
    unique by its hash."""
    readable = re.sub(r"[^A-Za-z0-9_-]", "_", user)[:40]
    return f"{readable}-{hashlib.sha256(user.encode()).hexdigest()[:12]}"


def _current_user(settings: Settings) -> str | None:
    if settings.login.mode != "none":
        return logged_in_user(settings)
    access = settings.access
    if not access.users:
        st.sidebar.caption("Single-user install (no `access.users` in the config): every domain is visible.")
        st.sidebar.button(
            "Reload the configuration",
            on_click=_runtime.clear,
            help="Read the config file again and load the models it names. (A team server is restarted instead.)",
        )
        return None
    from_address = st.query_params.get("user")
    user = _claimed_user(settings)
    if user is None:
        st.error("Say who you are: add `?user=NAME` to the address. The config's `access.users` lists the users.")
        st.stop()
    if user not in access.users:
        st.error(f"Unknown user {user!r}: the config's `access.users` lists who may use the assistant.")
        st.stop()
    source = "the address (`?user=`)" if from_address else "the config (`access.default_user`)"
    st.sidebar.info(
        f"You are **{user}**, taken from {source}. No login is configured (`[login]`): the domains you see "
        "follow the config's access list, but anyone who reaches this server can pick a user."
    )
    return user


def keep_upload(file: UploadedFile, folder: Path) -> Path:
    """An uploaded file saved in ``folder`` under its bare name: a name, never a path out of the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / Path(file.name).name
    path.write_bytes(file.getvalue())
    return path


def upload_or_path(session: Session, upload: UploadedFile | None, typed: str, folder: Path) -> Path | None:
    """The file a form was given: an upload (kept in ``folder``), else a path on the server's machine that the
    config lets the app read."""
    if upload is not None:
        return keep_upload(upload, folder)
    return session.server_path(typed) if typed else None


def run_action(action: Callable[..., object], *args: object) -> None:
    """A button's ``on_click``: it runs before the page is drawn again, so the page shows what it did. A problem
    with it is kept for that page to show."""
    try:
        action(*args)
    except UserError as err:
        st.session_state["failed_action"] = str(err)


@contextmanager
def errors_shown(session: Session) -> Iterator[None]:
    """A problem with the input is one line on the page; anything else is a short message there and its
    traceback in the server's log, never on the page. (Streamlit's rerun and stop signals are BaseExceptions
    and pass through.)"""
    try:
        yield
    except UserError as err:
        st.error(str(err))
    except Exception as err:
        if fault := server_fault(err):
            st.error(str(fault))
            return
        log_failure(err, session.settings.home, f"web app, user {session.user or 'local'}")
        st.error("Something went wrong on the server; whoever runs it finds the details in its errors log.")
