"""The web app for domain users: `assistant ui` serves it on 127.0.0.1.

Each page is a script of its own under ui/pages; they share the server's one runtime (ui.session), so the
models load once however many people and pages use them.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

PAGES = Path(__file__).parent / "pages"

st.set_page_config(page_title="Domain assistant", page_icon=":material/forum:", layout="wide")
st.navigation(
    [
        st.Page(PAGES / "chat.py", title="Chat", icon=":material/chat:", url_path="chat", default=True),
        st.Page(PAGES / "documents.py", title="Documents", icon=":material/description:", url_path="documents"),
        st.Page(PAGES / "adapter_registry.py", title="Adapters", icon=":material/tune:", url_path="adapters"),
        st.Page(PAGES / "evaluation.py", title="Evaluation", icon=":material/analytics:", url_path="evaluation"),
    ]
).run()
