"""Who is asking, proven: an OpenID Connect provider through Streamlit's own ``st.login``, or passwords hashed with
argon2 in the config. Nothing here handles a secret beyond handing it to those libraries.

A logged-in identity (the provider's ``login.identity_claim``, or the user name) must be one the config names, in
``access.users`` or ``access.admins``: logging in proves who someone is, the config says what they may do.
"""

from __future__ import annotations

import threading
import time

import streamlit as st

from assistant.core.config import LoginSettings, Settings

_PASSWORD_USER = "password-login-user"  # session-state key: this browser session's user, once the password matched


def identity(login: LoginSettings) -> str | None:
    """The logged-in identity, or None; draws nothing."""
    if login.mode == "oidc":
        if not st.user.is_logged_in:
            return None
        claimed = st.user.get(login.identity_claim)
        if login.identity_claim == "email" and not email_is_proof(st.user.get("email_verified"), login):
            return None
        return claimed if isinstance(claimed, str) and claimed else None
    if login.mode == "password":
        user = st.session_state.get(_PASSWORD_USER)
        return user if isinstance(user, str) else None
    return None


def email_is_proof(email_verified: object, login: LoginSettings) -> bool:
    """Whether an email claim says who logs in. Anyone can type an address into an account at many providers,
    so only one the provider marks verified counts; without the claim, only where the config says to trust
    the provider (``login.trust_unverified_email``). Identity fails closed."""
    if email_verified is None:
        return login.trust_unverified_email
    return email_verified is True or str(email_verified).lower() == "true"


def logged_in_user(settings: Settings) -> str:
    """The page's user: asks them to log in first (the page stops there), and refuses one the config doesn't name."""
    login = settings.login
    user = identity(login)
    if user is None:
        _ask_to_log_in(login)
        st.stop()
    access = settings.access
    if user not in access.users and user not in access.admins:
        st.error(f"You are logged in as {user!r}, but the config's access lists do not name you: ask an admin.")
        _log_out_button(login)
        st.stop()
    st.sidebar.caption(f"Logged in as **{user}**")
    _log_out_button(login)
    return user


def _ask_to_log_in(login: LoginSettings) -> None:
    if login.mode == "oidc":
        if st.user.is_logged_in:  # logged in, but the provider sent no usable identity
            st.error(
                f"Your identity provider sent no usable {login.identity_claim!r} claim (none, or an email it has "
                "not verified): ask an admin."
            )
            _log_out_button(login)
            return
        st.info("Log in to use the assistant.")
        st.button("Log in", type="primary", on_click=st.login)
        return
    with st.form("login"):
        name = st.text_input("User name")
        password = st.text_input("Password", type="password")
        if st.form_submit_button("Log in", type="primary"):
            failures = _failed_logins()
            if not failures.attempt(name, login):  # a name out of tries: not even the right password is tried
                minutes = max(1, round(login.password_lockout_s / 60))
                st.error(f"Too many wrong passwords for this user name: try again within {minutes} minute(s).")
                return
            if _password_matches(login, name, password):
                failures.passed(name)
                st.session_state[_PASSWORD_USER] = name
                st.rerun()
            st.error("Wrong user name or password.")


class FailedLogins:
    """Recent wrong passwords per user name, for every browser session of this server: guessing is slowed to
    ``login.password_attempts`` tries per name and ``login.password_lockout_s``, whichever session tries."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: dict[str, list[float]] = {}

    def attempt(self, name: str, login: LoginSettings) -> bool:
        """Count an attempt for ``name`` as failed until it ``passed``; False, counting nothing, when the name has
        had its tries. One step under the lock, so sessions racing each other get no extra tries."""
        with self._lock:
            since = time.monotonic() - login.password_lockout_s
            # names whose tries have all expired are forgotten, so made-up names do not pile up
            self._failures = {other: times for other, times in self._failures.items() if times[-1] > since}
            recent = [at for at in self._failures.pop(name, []) if at > since]
            if len(recent) >= login.password_attempts:
                self._failures[name] = recent
                return False
            self._failures[name] = [*recent, time.monotonic()]
            return True

    def passed(self, name: str) -> None:
        with self._lock:
            self._failures.pop(name, None)


@st.cache_resource
def _failed_logins() -> FailedLogins:
    return FailedLogins()


def _password_matches(login: LoginSettings, name: str, password: str) -> bool:
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError, VerificationError

    hasher = PasswordHasher()
    known = login.passwords.get(name)
    # An unknown name costs a hash check too, so timing does not tell which names exist.
    stored = known.get_secret_value() if known is not None else hasher.hash("not anyone's password")
    try:
        return hasher.verify(stored, password) and known is not None
    except (VerificationError, InvalidHashError):
        return False


def _log_out_button(login: LoginSettings) -> None:
    if login.mode == "oidc":
        st.sidebar.button("Log out", on_click=st.logout)
    else:
        st.sidebar.button("Log out", on_click=st.session_state.pop, args=(_PASSWORD_USER, None))
