"""Each page of the web app run by Streamlit's AppTest, on the real index, models and registry."""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from streamlit.testing.v1 import AppTest

from adapters.base_model import BaseCheckpoint
from adapters.registry import Registry
from assistant.core.config import load_settings
from assistant.core.errors import UserError
from assistant.runtime import Runtime
from tests.conftest import SAMPLES, home_sharing, register_random_adapter
from ui.session import uploads_folder
from ui.transcripts import Transcripts

SCREENS = Path(__file__).resolve().parents[1] / "ui" / "screens"


def page(name: str, home: Path, monkeypatch: pytest.MonkeyPatch, **query: str) -> AppTest:
    monkeypatch.setenv("ASSISTANT_HOME", str(home))
    app = AppTest.from_file(str(SCREENS / f"{name}.py"), default_timeout=600)
    app.query_params.update(query)
    return app.run()


def texts(elements: object) -> str:
    return "\n".join(str(e.value) for e in elements)  # type: ignore[attr-defined]


def shown(markdown: str) -> str:
    """What the reader sees of text the app escaped (ui.untrusted): without the escapes and the line breaks."""
    return re.sub(r"\\(.)", r"\1", markdown).replace("  \n", "\n")


def labelled(elements: object, label: str, index: int = 0) -> object:
    return [e for e in elements if e.label == label][index]  # type: ignore[attr-defined]


def wait_for(app: AppTest, done: Callable[[AppTest], bool], seconds: float = 600) -> AppTest:
    """A background job's page, rerun until ``done`` (AppTest does not fire the fragment's timer)."""
    deadline = time.monotonic() + seconds
    while not done(app.run()):
        assert time.monotonic() < deadline, texts(app.markdown)
        time.sleep(1)
    return app


def test_chat_answers_with_its_sources_and_a_reload_shows_the_thread(
    sample_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = home_sharing(tmp_path / "home", sample_home, "models", "index")
    chat = page("chat", home, monkeypatch)
    assert not chat.exception
    chat.chat_input[0].set_value("How do I factory reset the router?").run()
    assert not chat.exception, chat.exception
    user, assistant = chat.chat_message
    assert user.markdown[0].value == "How do I factory reset the router?"
    answer = assistant.markdown[0].value
    assert answer and answer != "The documents do not cover this question."
    badge = texts(assistant.markdown)
    assert "support" in badge and "base model" in badge and "route confidence" in badge
    sources = [e for e in assistant.expander]
    assert any("factory-reset.md" in shown(e.label) and "score" in e.label for e in sources)
    passage = shown(sources[0].markdown[0].value)
    stored = Transcripts(home / "ui.sqlite").turns(chat.query_params["thread"])
    assert passage == stored[0].result.citations[0].text

    reloaded = page("chat", home, monkeypatch, thread=chat.query_params["thread"])
    user, assistant = reloaded.chat_message
    assert assistant.markdown[0].value == answer
    assert [e.label for e in assistant.expander] == [e.label for e in sources]
    conversations = [b.label for b in reloaded.sidebar.button]
    assert "How do I factory reset the router? (1)" in conversations


def test_the_chat_shows_only_the_users_domains_and_says_where_the_user_came_from(
    sample_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = home_sharing(tmp_path / "home", sample_home, "models", "index")
    (home / "config.toml").write_text('[access]\nusers = { alice = ["support"], bob = ["policy"] }\n')
    nobody = page("chat", home, monkeypatch)
    assert "?user=NAME" in nobody.error[0].value and not nobody.chat_input
    assert "Unknown user 'mallory'" in page("chat", home, monkeypatch, user="mallory").error[0].value
    bob = page("chat", home, monkeypatch, user="bob")
    assert labelled(bob.selectbox, "Domain").options == ["auto", "policy"]  # type: ignore[attr-defined]
    assert "**bob**" in bob.sidebar.info[0].value and "No login is configured" in bob.sidebar.info[0].value

    alice = page("chat", home, monkeypatch, user="alice")
    alice.chat_input[0].set_value("How do I factory reset the router?").run()
    assert "support" in texts(alice.chat_message[1].markdown)
    snooping = page("chat", home, monkeypatch, user="bob", thread=alice.query_params["thread"])
    assert "another user's" in snooping.error[0].value and not snooping.chat_message


def test_documents_are_added_from_a_folder_with_per_file_errors_and_removed(
    sample_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = home_sharing(tmp_path / "home", sample_home, "models")
    docs = tmp_path / "docs"
    docs.mkdir()
    (home / "config.toml").write_text(f'[ingest]\nallowed_roots = ["{docs}"]\n')
    (docs / "badges.md").write_text("# Badges\n\nVisitor badges are collected at the front desk before 9 am.\n")
    (docs / "broken.pdf").write_bytes(b"%PDF-1.7\nthis is not really a PDF")
    app = page("documents", home, monkeypatch)
    labelled(app.selectbox, "Domain").set_value("A new domain…").run()  # type: ignore[attr-defined]
    labelled(app.text_input, "New domain name").set_value("handbook").run()  # type: ignore[attr-defined]
    # The upload form, pressed with no file in it
    labelled(app.button, "Add to the index", 0).click().run()  # type: ignore[attr-defined]
    assert "No file reached the server" in app.warning[0].value
    labelled(app.text_input, "Folder or file path").set_value(str(docs))  # type: ignore[attr-defined]
    labelled(app.button, "Add to the index", 1).click().run()  # type: ignore[attr-defined]
    assert "1 added" in app.success[0].value
    assert "broken.pdf" in app.error[0].value and "was not added" in app.error[0].value
    runtime = Runtime(load_settings(home=home))
    assert [r.source for r in runtime.documents("handbook")] == ["badges.md"]

    app = page("documents", home, monkeypatch)
    labelled(app.selectbox, "Domain").set_value("handbook").run()  # type: ignore[attr-defined]
    removing = [str(docs.resolve() / "badges.md")]  # a document is named by its path: its identity
    labelled(app.multiselect, "Remove documents").set_value(removing)  # type: ignore[attr-defined]
    labelled(app.button, "Remove").click().run()  # type: ignore[attr-defined]
    assert not app.exception, app.exception
    assert "Removed 1 document(s)" in app.success[0].value
    assert Runtime(load_settings(home=home)).known_domains() == []  # its last document went, and the domain


def test_a_user_removes_only_their_own_uploads_and_never_anothers_of_the_same_name(
    sample_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = home_sharing(tmp_path / "home", sample_home, "models")
    (home / "config.toml").write_text('[access]\nadmins = ["root"]\nusers = { alice = ["hr"], bob = ["hr"] }\n')
    settings = load_settings(home=home)
    runtime = Runtime(settings)
    uploaded = {}
    for user in ("alice", "bob"):  # each has uploaded a handbook.md, kept in their own uploads folder
        folder = uploads_folder(settings, user, "hr")
        folder.mkdir(parents=True)
        (folder / "handbook.md").write_text(f"# Handbook\n\n{user.title()}'s team meets on Mondays.\n")
        runtime.ingest([folder / "handbook.md"], "hr")
        uploaded[user] = str((folder / "handbook.md").resolve())

    alice = page("documents", home, monkeypatch, user="alice")
    labelled(alice.selectbox, "Domain").set_value("hr").run()  # type: ignore[attr-defined]
    choice = labelled(alice.multiselect, "Remove documents")
    assert choice.options == ["handbook.md"]  # type: ignore[attr-defined]  # hers alone, shown by its name
    choice.set_value([uploaded["alice"]])  # type: ignore[attr-defined]
    labelled(alice.button, "Remove").click().run()  # type: ignore[attr-defined]
    assert "Removed 1 document(s)" in alice.success[0].value
    assert [r.path for r in Runtime(load_settings(home=home)).documents("hr")] == [uploaded["bob"]]

    with pytest.raises(UserError, match=r"'handbook.md' names 2 documents in domain 'hr'; name one by its path"):
        runtime.ingest([Path(uploaded["alice"])], "hr")
        runtime.remove_documents("hr", ["handbook.md"])


def test_adapter_cards_activate_and_roll_back(
    served_home: Path, hf_base: BaseCheckpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = home_sharing(tmp_path / "home", served_home, "models", "index")
    shutil.copytree(served_home / "adapters", home / "adapters")
    register_random_adapter(home, hf_base, "support", seed=7)  # support@2, active, not exported
    registry = Registry(home / "adapters")
    app = page("adapter_registry", home, monkeypatch)
    assert not app.exception
    headings = texts(app.markdown)
    assert "**support@2** :green-badge[active]" in headings and "**support@1**" in headings
    assert "Not exported" in texts(app.caption)
    app.button(key="activate-support@1").click().run()
    assert registry.active("support").name == "support@1"  # type: ignore[union-attr]
    app.button(key="rollback-policy").click().run()
    assert "no earlier active adapter" in app.error[0].value  # policy has had only one
    app.button(key="rollback-support").click().run()
    assert registry.active("support").name == "support@2"  # type: ignore[union-attr]


def test_training_runs_in_the_background_with_live_progress(
    sample_home: Path, tiny_base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = home_sharing(tmp_path / "home", sample_home, "models", "index")
    (home / "config.toml").write_text(
        f'[training]\nbase_model = "{tiny_base}"\neval_steps = 2\n[ingest]\nallowed_roots = ["{SAMPLES}"]\n'
    )
    app = page("adapter_registry", home, monkeypatch)
    labelled(app.selectbox, "Domain").set_value("support")  # type: ignore[attr-defined]
    data = str(SAMPLES / "training" / "support.jsonl")
    labelled(app.text_input, "…or its path on this machine").set_value(data)  # type: ignore[attr-defined]
    eval_sets = "Eval sets whose questions must not be trained on (paths, comma-separated)"
    labelled(app.text_input, eval_sets).set_value(str(SAMPLES / "eval.jsonl"))  # type: ignore[attr-defined]
    labelled(app.number_input, "Max steps (0 = the config's epochs)").set_value(3)  # type: ignore[attr-defined]
    labelled(app.checkbox, "Export for llama.cpp when trained").uncheck()  # type: ignore[attr-defined]
    labelled(app.button, "Start training").click().run()  # type: ignore[attr-defined]
    assert "Training support" in texts(app.markdown) and not app.error
    wait_for(app, lambda a: bool(a.success) or bool(a.error))
    assert not app.error, app.error[0].value
    assert "support@1 is trained and registered." in app.success[0].value
    assert app.get("vega_lite_chart")  # the loss curve
    assert "**support@1** :green-badge[active]" in texts(app.markdown)


def test_an_eval_run_is_charted_and_each_question_drills_down(
    sample_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = home_sharing(tmp_path / "home", sample_home, "models", "index")
    (home / "config.toml").write_text(f'[ingest]\nallowed_roots = ["{SAMPLES}"]\n')  # the set is read from there
    app = page("evaluation", home, monkeypatch)
    labelled(app.text_input, "…or its path on this machine").set_value(str(SAMPLES / "eval.jsonl"))  # type: ignore[attr-defined]
    labelled(app.multiselect, "Arms").set_value(["rag"])  # type: ignore[attr-defined]
    labelled(app.number_input, "Only the first N questions (0 = all)").set_value(2)  # type: ignore[attr-defined]
    labelled(app.button, "Run").click().run()  # type: ignore[attr-defined]
    wait_for(app, lambda a: bool(a.success) or bool(a.error))
    assert "Done: reports in" in app.success[0].value, texts(app.error)
    assert "2 questions" in texts(app.caption)
    captions = [image.proto.imgs[0].caption for image in app.get("image")]
    assert captions[0].startswith("Each arm's mean")  # the same charts as the HTML report
    labelled(app.selectbox, "Question").set_value(1).run()  # type: ignore[attr-defined]
    drilled = shown(texts(app.markdown))
    second = json.loads((SAMPLES / "eval.jsonl").read_text().splitlines()[1])
    assert f"**Gold:** {', '.join(second['gold_sources'])}" in drilled
    assert "**rag**" in drilled and app.dataframe  # the arm's answer and its scores


@pytest.mark.model
def test_the_app_reads_its_settings_once_and_reloads_them_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ui.session import _runtime

    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text("[retrieval]\nk = 4\n")
    app = page("documents", home, monkeypatch)
    (home / "config.toml").write_text("[retrieval]\nk = 7\n")
    app.run()
    assert not app.exception, app.exception
    assert _runtime(str(home), None).settings.retrieval.k == 4, "a rerun keeps the settings the runtime was built on"

    labelled(app.button, "Reload the configuration").click().run()  # type: ignore[attr-defined]
    assert not app.exception, app.exception
    assert _runtime(str(home), None).settings.retrieval.k == 7


def test_each_role_sees_only_what_it_may_and_server_folders_stay_under_the_allowed_roots(
    sample_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = home_sharing(tmp_path / "home", sample_home, "models", "index")
    shared, private = tmp_path / "shared", tmp_path / "private"
    shared.mkdir()
    private.mkdir()
    (private / "keys.md").write_text("# Keys\n\nThe server's secrets.\n")
    (home / "config.toml").write_text(
        f'[ingest]\nallowed_roots = ["{shared}"]\n'
        '[access]\nusers = { alice = ["support"], root = ["support", "policy"] }\nadmins = ["root"]\n'
    )
    alice = page("documents", home, monkeypatch, user="alice")
    assert not [e for e in alice.text_input if e.label == "Folder or file path"]
    assert "for admins" in texts(alice.caption)
    for admins_page in ("adapter_registry", "evaluation"):
        refused = page(admins_page, home, monkeypatch, user="alice")
        assert "This page is for admins" in refused.error[0].value and not refused.button

    admin = page("documents", home, monkeypatch, user="root")
    labelled(admin.selectbox, "Domain").set_value("support").run()  # type: ignore[attr-defined]
    for typed in (str(private / "keys.md"), f"{shared}/../private/keys.md"):
        labelled(admin.text_input, "Folder or file path").set_value(typed)  # type: ignore[attr-defined]
        labelled(admin.button, "Add to the index", 1).click().run()  # type: ignore[attr-defined]
        assert "outside the folders this server may read" in admin.error[0].value
    assert "keys.md" not in {r.source for r in Runtime(load_settings(home=home)).documents("support")}


def test_wrong_passwords_lock_a_user_name_for_every_session(
    sample_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guessing is slowed per name, not per browser: after the allowed wrong passwords, even the right one is
    refused for a while, in a new session too; another name is not affected."""
    home = home_sharing(tmp_path / "home", sample_home, "models", "index")
    name = f"carol-{tmp_path.name}"  # the count lives as long as the server (this test process): a name of its own
    hashes = {user: PasswordHasher().hash(f"{user}-passphrase") for user in (name, "dave")}
    (home / "config.toml").write_text(
        '[login]\nmode = "password"\npassword_attempts = 3\n[login.passwords]\n'
        + "".join(f'"{user}" = "{hashed}"\n' for user, hashed in hashes.items())
        + f'[access]\nusers = {{ "{name}" = ["support"], dave = ["support"] }}\n'
    )

    def log_in(user: str, password: str) -> AppTest:
        app = page("chat", home, monkeypatch)
        labelled(app.text_input, "User name").set_value(user)  # type: ignore[attr-defined]
        labelled(app.text_input, "Password").set_value(password)  # type: ignore[attr-defined]
        labelled(app.button, "Log in").click().run()  # type: ignore[attr-defined]
        return app

    for _ in range(3):
        assert "Wrong user name or password" in log_in(name, "guess").error[0].value
    locked = log_in(name, f"{name}-passphrase")
    assert "Too many wrong passwords" in locked.error[0].value and not locked.chat_input
    assert log_in("dave", "dave-passphrase").chat_input  # the lock is the guessed name's alone
