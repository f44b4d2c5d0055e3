"""The web app for domain users: `assistant ui` serves it on 127.0.0.1.

Each page is a script of its own under ui/screens; they share the server's one runtime (ui.session), so the
models load once however many people and pages use them.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui.session import visitor_is_admin

SCREENS = Path(__file__).parent / "screens"  # not "pages": Streamlit would serve a pages/ folder on its own

st.set_page_config(page_title="Domain assistant", page_icon=":material/forum:", layout="wide")
everyone = [
    st.Page(SCREENS / "chat.py", title="Chat", icon=":material/chat:", default=True),
    st.Page(SCREENS / "documents.py", title="Documents", icon=":material/description:", url_path="documents"),
]
admins = [
    st.Page(SCREENS / "adapter_registry.py", title="Adapters", icon=":material/tune:", url_path="adapters"),
    st.Page(SCREENS / "evaluation.py", title="Evaluation", icon=":material/analytics:", url_path="evaluation"),
]
st.navigation(everyone + admins if visitor_is_admin() else everyone).run()
