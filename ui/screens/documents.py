"""Documents: add files to a domain (upload or a folder on this machine), see what is indexed, remove it."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ingest.documents import SUPPORTED_SUFFIXES
from ingest.pipeline import IngestSummary
from ingest.store import check_domain_name
from ui.session import Session, errors_shown, keep_upload, start_page

session = start_page("Documents")
runtime = session.runtime


def choose_domain(session: Session) -> str | None:
    allowed = session.manageable_domains()
    if allowed is not None:
        return st.selectbox("Domain", allowed)
    known = runtime.known_domains()
    choice = st.selectbox("Domain", [*known, "A new domain…"])
    if choice != "A new domain…":
        return choice
    return st.text_input("New domain name", placeholder="e.g. support") or None


def ingest(paths: list[Path], domain: str, within: list[Path] | None = None) -> IngestSummary:
    bar = st.progress(0.0, text="Reading the documents…")

    def on_progress(done: int, total: int, chunks: int) -> None:
        bar.progress(done / max(total, 1), text=f"{done}/{total} files · {chunks} chunks")

    summary = runtime.ingest(paths, domain, within=within, on_progress=on_progress)
    bar.empty()
    return summary


def show_summary(summary: IngestSummary) -> None:
    st.success(
        f"**{summary.domain}**: {summary.files_added} added · {summary.files_updated} updated · "
        f"{summary.files_unchanged} unchanged · {summary.chunks_added} chunks in {summary.seconds:.1f} s"
    )
    if common := summary.common_failure():
        st.error(f"{common[1]} of the files failed for one reason: {common[0]}")
    for failure in summary.files_failed:
        st.error(f"**{Path(failure['path']).name}** was not added: {failure['error']}")


def add_documents(domain: str) -> None:
    upload, folder = st.tabs(["Upload files", "A folder on this machine"])
    with upload, st.form("upload", clear_on_submit=True):
        files = st.file_uploader(
            "Documents", type=sorted(s.lstrip(".") for s in SUPPORTED_SUFFIXES), accept_multiple_files=True
        )
        submitted = st.form_submit_button("Add to the index", type="primary")
        if submitted and files:
            kept_in = session.uploads(domain)  # a file uploaded again is then found unchanged
            show_summary(ingest([keep_upload(file, kept_in) for file in files], domain))
        elif submitted:  # none chosen, or pressed before the browser finished sending them
            st.warning("No file reached the server: choose files, wait until each shows its size, then add.")
    with folder:
        server_folder_form(domain)


def server_folder_form(domain: str) -> None:
    """Admins only, and only under ``ingest.allowed_roots``: the app must not read what the server can."""
    roots = session.settings.ingest.allowed_roots
    if not session.is_admin or not roots:
        listed = "" if roots else " It lists none."
        st.caption(f"Reading the server's folders is for admins, under the config's `ingest.allowed_roots`.{listed}")
        return
    with st.form("folder"):
        path = st.text_input(
            "Folder or file path", placeholder=str(roots[0]), help=f"Under {', '.join(map(str, roots))}"
        )
        if st.form_submit_button("Add to the index") and path:
            show_summary(ingest([Path(path).expanduser()], domain, within=roots))


def indexed(domain: str) -> None:
    stats = runtime.domain_stats()
    allowed = session.manageable_domains()
    shown = [row for row in stats if allowed is None or row["domain"] in allowed]
    if shown:
        st.dataframe(shown, hide_index=True)
    if domain not in runtime.known_domains():
        st.caption(f"Nothing is indexed in {domain} yet.")
        return
    records = runtime.documents(domain)
    st.subheader(f"In {domain}")
    st.dataframe(
        [
            {"source": r.source, "title": r.title, "chunks": len(r.chunk_ids), "ingested (UTC)": r.ingested_at}
            for r in records
        ],
        hide_index=True,
    )
    removable = {r.path: r.source for r in records if session.may_remove(r)}
    if not removable:
        st.caption("You may remove the documents you uploaded; none of these is yours.")
        return
    with st.form("remove"):
        paths = st.multiselect("Remove documents", list(removable), format_func=removable.__getitem__)
        if st.form_submit_button("Remove") and paths:
            removed = runtime.remove_documents(domain, paths)  # by path: another's file of the same name stays
            st.session_state["removed"] = (
                f"Removed {removed['files_removed']} document(s), {removed['chunks_removed']} chunks."
            )
            st.rerun()  # list what is left


with errors_shown(session):
    if message := st.session_state.pop("removed", None):
        st.success(message)  # from the run before this one, which removed documents
    domain = choose_domain(session)
    if domain:
        check_domain_name(domain)
        add_documents(domain)
        st.divider()
        indexed(domain)
