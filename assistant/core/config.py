"""The one configuration schema of the product.

Values come from, lowest priority first: the defaults below, a TOML file
(``<home>/config.toml``, or ``--config``/``ASSISTANT_CONFIG_FILE``), environment
variables (``ASSISTANT_`` prefix, ``__`` between nested names, e.g.
``ASSISTANT_LLM__N_CTX=8192``), then CLI flags. Every path the product writes
lives under ``home``.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from assistant.core.errors import UserError

ENV_PREFIX = "ASSISTANT_"


class Section(BaseModel):
    """A table of the config: a key it does not define is a mistake to report, not a setting to drop."""

    model_config = ConfigDict(extra="forbid")


def default_home() -> Path:
    """Per-user data home, following the XDG convention."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "domain-assistant"


class OpenAISettings(Section):
    """An OpenAI-compatible server (vLLM with ``--enable-lora``, ``python -m llama_cpp.server``), where each
    adapter is served under a model name of its own."""

    base_url: AnyHttpUrl | None = Field(default=None, description="e.g. http://127.0.0.1:8000/v1")
    model: str = Field(default="base", description="The server's model name for the base model.")
    adapter_models: dict[str, str] = Field(
        default_factory=dict,
        description="Adapter (DOMAIN@VERSION) → the server's model name; unset = the adapter's own name.",
    )
    api_key: SecretStr = Field(default=SecretStr("none"), description="Sent as a bearer token.")
    timeout_s: float = Field(default=300.0, gt=0)
    chat: bool = Field(
        default=False,
        description="Send prompts as chat messages to /chat/completions, for the server to render through the "
        "model's chat template (instruct models); false = our raw format to /completions (base models).",
    )


class LLMSettings(Section):
    """The generator. ``gguf`` unset means the offline default (Gemma 3 270M from PyPI).

    ``llamacpp`` runs the GGUF in-process with GGUF LoRA adapters hot-swapped per request; ``hf`` runs
    transformers + peft on the training base (4-bit on CUDA); ``openai`` calls a server."""

    backend: Literal["llamacpp", "hf", "openai"] = "llamacpp"
    gguf: Path | None = Field(default=None, description="Local GGUF file; unset = offline default.")
    merged_domains: list[str] = Field(
        default_factory=list,
        description="llamacpp: domains served by their adapter's merged GGUF export instead of a hot-swapped LoRA.",
    )
    openai: OpenAISettings = OpenAISettings()
    n_ctx: int = Field(default=4096, ge=512, description="Context window in tokens.")
    n_threads: int | None = Field(default=None, ge=1, description="CPU threads; unset = all cores.")
    max_tokens: int = Field(default=256, ge=1, description="Most tokens generated per answer.")
    temperature: float = Field(default=0.0, ge=0.0, description="0 = greedy, reproducible answers.")
    seed: int = 0


class EmbeddingSettings(Section):
    """The sentence-transformers model; ``model`` unset means all-MiniLM-L6-v2 from PyPI."""

    model: Path | None = Field(default=None, description="Local sentence-transformers folder.")
    batch_size: int = Field(default=32, ge=1)


class ChunkSettings(Section):
    """Chunk sizes are counted in the embedding model's own tokens."""

    max_tokens: int = Field(default=200, ge=16, description="Must stay under the model's limit (256).")
    overlap_tokens: int = Field(default=32, ge=0)


class IndexSettings(Section):
    """Where the vectors live: embedded Chroma in the data home, or a Chroma server (scale path)."""

    chroma_url: AnyHttpUrl | None = Field(
        default=None, description="e.g. http://127.0.0.1:8000 for `chroma run`; unset = embedded in the data home."
    )
    chroma_token: SecretStr | None = Field(
        default=None,
        description="Sent to the Chroma server as 'Authorization: Bearer TOKEN' (Chroma's own token client); the "
        "server, or the proxy before it, checks it (see the README's deployment section).",
    )
    trusted_network: bool = Field(
        default=False,
        description="Use a Chroma server that lets in anyone who reaches it: only where everyone who can may "
        "read and rewrite every domain. Without it, such a server is refused.",
    )


class IngestSettings(Section):
    max_file_mb: float = Field(default=100.0, gt=0, description="Larger files are refused, not read.")
    max_unpacked_mb: float = Field(
        default=200.0, gt=0, description="A DOCX that unpacks to more is refused before it is parsed."
    )
    lock_timeout_s: float = Field(
        default=600.0, gt=0, description="How long a writer waits for another ingest/remove on the same index."
    )
    allowed_roots: list[Path] = Field(
        default_factory=list,
        description="Folders of the server's disk the web app may read (admins only; none by default). "
        "The CLI is not confined: its user reads the disk anyway.",
    )


class RetrievalSettings(Section):
    k: int = Field(default=5, ge=1, le=50, description="Passages given to the generator.")
    mode: Literal["hybrid", "vector"] = Field(default="hybrid", description="hybrid = vector + BM25, fused by RRF.")
    candidates: int = Field(default=20, ge=1, le=200, description="Candidates each retriever contributes.")
    rrf_k: int = Field(default=60, ge=1, description="Reciprocal rank fusion constant.")
    mmr_lambda: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Set (e.g. 0.7) to diversify passages with MMR; 1 = relevance only."
    )
    reranker: Path | None = Field(default=None, description="Local cross-encoder folder that reorders candidates.")
    max_per_document: int | None = Field(
        default=3, ge=1, description="At most this many passages from one document (None: no limit)."
    )


class RoutingSettings(Section):
    lexical_weight: float = Field(
        default=0.2, ge=0.0, description="Weight of the share of question words a passage holds, beside its cosine."
    )
    temperature: float = Field(
        default=0.05, gt=0.0, description="Softmax temperature turning domain scores into a confidence."
    )
    min_confidence: float = Field(
        default=0.6, ge=0.0, le=1.0, description="Below it, search every domain the user may see, with no adapter."
    )


class GradingSettings(Section):
    """When the best passage is this far from the question, the documents are taken not to cover it.
    The default answers 90 % of the sample sets' answerable questions (``bench/calibrate_grading.py``)."""

    min_score: float = Field(
        default=0.29, ge=-1.0, le=1.0, description="Cosine similarity of the best passage below which to refuse."
    )
    weak_score: float = Field(
        default=0.42,
        ge=-1.0,
        le=1.0,
        description="Below it (and above min_score) an answer is given, but the app warns that retrieval was weak.",
    )


class DomainSettings(Section):
    """Optional hints for routing (a domain routes from its documents alone without them), and the answer
    format its adapter teaches, which the eval harness checks."""

    description: str = ""
    examples: list[str] = Field(default_factory=list, description="Questions this domain answers.")
    answer_format: str | None = Field(
        default=None, description="Regular expression a whole answer in this domain's format matches."
    )

    @field_validator("answer_format")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as err:
                raise ValueError(f"not a regular expression: {err}") from None
        return pattern


class EvalSettings(Section):
    """The eval harness. The support thresholds are calibrated on 120 hand-labelled sentence/passage pairs
    (``bench/calibrate_faithfulness.py`` on ``samples/faithfulness_labels.jsonl``: balanced accuracy 0.83,
    0.77-0.84 when fitted on one half and scored on the other)."""

    lexical_support: float = Field(
        default=0.85, ge=0.0, le=1.0, description="Share of a sentence's content words found in a passage."
    )
    embedding_support: float = Field(
        default=0.83, ge=-1.0, le=1.0, description="Cosine between a sentence and a passage (or one of its sentences)."
    )
    bootstrap_resamples: int = Field(default=2000, ge=100, description="Paired bootstrap resamples per interval.")
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0, description="Confidence level of the intervals.")
    seed: int = 0


class AccessSettings(Section):
    """Who may query which domains. No users configured = a single-user install that sees every domain."""

    users: dict[str, list[str]] = Field(default_factory=dict, description="User → the domains they may query.")
    default_user: str | None = Field(default=None, description="The user of requests that name none.")
    admins: list[str] = Field(
        default_factory=list,
        description="Users who manage documents, adapters, evaluation and server folders in the web app "
        "(a single-user install's one user is its admin).",
    )


class LoginSettings(Section):
    """How web-app users prove who they are. ``none``: nobody logs in, and the app serves this machine only."""

    mode: Literal["none", "oidc", "password"] = Field(
        default="none",
        description="oidc: an OpenID Connect provider, through Streamlit's st.login; password: the hashes below.",
    )
    server_metadata_url: AnyHttpUrl | None = Field(
        default=None, description="The provider's .well-known/openid-configuration address."
    )
    client_id: str | None = None
    client_secret: SecretStr | None = None
    redirect_uri: AnyHttpUrl | None = Field(
        default=None, description="This app's address + /oauth2callback, as registered with the provider."
    )
    cookie_secret: SecretStr | None = Field(default=None, description="A long random string that signs the login.")
    identity_claim: str = Field(default="email", description="The claim that names the user in access.users/admins.")
    trust_unverified_email: bool = Field(
        default=False,
        description="With identity_claim 'email': also accept an email the provider sends no email_verified claim "
        "for (Entra ID, by default). Only safe with a provider where no account owner can set their own email; "
        "an email marked unverified is refused either way.",
    )
    prompt: Literal["select_account", "login", "consent"] = Field(
        default="select_account", description="What the provider asks at each login (some support only login)."
    )
    passwords: dict[str, SecretStr] = Field(
        default_factory=dict, description="User → argon2 hash of their password (`assistant password-hash`)."
    )
    password_attempts: int = Field(
        default=5, ge=1, description="Wrong passwords for one user name before it is refused for a while."
    )
    password_lockout_s: float = Field(default=300.0, gt=0, description="How long that while lasts.")

    @model_validator(mode="after")
    def _complete(self) -> LoginSettings:
        if self.mode == "oidc":
            fields = ("server_metadata_url", "client_id", "client_secret", "redirect_uri", "cookie_secret")
            missing = [name for name in fields if getattr(self, name) is None]
            if missing:
                raise ValueError(f"oidc login needs {', '.join(missing)}")
        if self.mode == "password" and not self.passwords:
            raise ValueError("password login needs login.passwords (user = argon2 hash)")
        return self


class ServeSettings(Section):
    """`assistant serve`: the OpenAI-compatible API. Without API keys it listens on 127.0.0.1 only."""

    api_keys: dict[str, str] = Field(
        default_factory=dict,
        description='API key → the access-control user its requests ask as; "*": a front end\'s key (the web app '
        "asking a server), whose requests name their user.",
    )
    max_queue: int = Field(default=8, ge=1, le=1000, description="Requests waiting for the model before 429.")
    retry_after_s: int = Field(default=5, ge=1, description="The Retry-After of a request refused as overload.")


class LimitsSettings(Section):
    """What one request may ask of the assistant, on every surface (CLI, app, API): beyond it, a clear refusal
    before any work, so that no input can hold the single model thread, or the memory, for long."""

    question_chars: int = Field(default=4000, ge=1, description="The longest question, in characters.")
    messages: int = Field(default=200, ge=1, description="Messages in one API chat request, the question included.")
    request_kb: int = Field(default=1024, ge=1, description="The largest API request body, in KiB.")


class ClientSettings(Section):
    """A running `assistant serve` that `ask` and `retrieve` send their questions to, so a new process answers
    at once instead of loading the models and the index itself. Unset: they answer in-process."""

    url: AnyHttpUrl | None = Field(default=None, description="The server, e.g. http://127.0.0.1:8000.")
    api_key: SecretStr | None = Field(default=None, description="One of the server's serve.api_keys, if it has any.")
    timeout_s: float = Field(default=600.0, gt=0, description="How long to wait for the server's next bytes.")


LoraTarget = Literal["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class TrainingSettings(Section):
    """Adapter training. LoRA touches only the attention and MLP projections: adapters that train
    ``lm_head``/``embed_tokens`` cannot be served by llama.cpp or vLLM, so they are not offered."""

    base_model: Path | None = Field(
        default=None, description="Local HF model folder; unset = converted once from the served GGUF."
    )
    lora_r: int = Field(default=8, ge=1, le=256)
    lora_alpha: int = Field(default=16, ge=1)
    lora_dropout: float = Field(default=0.05, ge=0.0, lt=1.0)
    target_modules: list[LoraTarget] = Field(default_factory=lambda: list(get_args(LoraTarget)), min_length=1)
    learning_rate: float = Field(default=2e-4, gt=0.0)
    epochs: float = Field(default=2.0, gt=0.0)
    max_steps: int | None = Field(default=None, ge=1, description="Stop after this many optimizer steps.")
    batch_size: int = Field(default=1, ge=1, description="Examples per forward pass.")
    gradient_accumulation: int = Field(default=4, ge=1, description="Forward passes per optimizer step.")
    max_seq_tokens: int = Field(default=1024, ge=64, description="Longer examples lose passages, never the answer.")
    cpu_bf16: bool = Field(
        default=False,
        description="bf16 autocast when training on CPU: faster only on CPUs with AVX512-BF16 or AMX "
        "(bench/training_speed.py measures it).",
    )
    refusal_examples: bool = Field(
        default=False,
        description="Train on the data's refusals (examples without sources). Off: the grader is the one that "
        "refuses (grading.min_score); adapters taught to refuse also refused answerable questions (README).",
    )
    held_out_fraction: float = Field(default=0.1, gt=0.0, lt=0.5)
    eval_steps: int = Field(default=10, ge=1, description="Optimizer steps between held-out evaluations.")
    patience: int = Field(default=3, ge=1, description="Evaluations without improvement before stopping early.")
    seed: int = 0


class Settings(BaseSettings):
    """Everything configurable; see the module docstring for where values come from."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    home: Path = Field(default_factory=default_home, description="Data home: index, models, adapters.")
    config_file: Path | None = Field(default=None, description="TOML file; unset = <home>/config.toml.")
    llm: LLMSettings = LLMSettings()
    embedding: EmbeddingSettings = EmbeddingSettings()
    chunking: ChunkSettings = ChunkSettings()
    ingest: IngestSettings = IngestSettings()
    index: IndexSettings = IndexSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    routing: RoutingSettings = RoutingSettings()
    grading: GradingSettings = GradingSettings()
    domains: dict[str, DomainSettings] = Field(default_factory=dict, description="Per-domain routing hints.")
    access: AccessSettings = AccessSettings()
    login: LoginSettings = LoginSettings()
    serve: ServeSettings = ServeSettings()
    limits: LimitsSettings = LimitsSettings()
    client: ClientSettings = ClientSettings()
    training: TrainingSettings = TrainingSettings()
    eval: EvalSettings = EvalSettings()

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, home: Path) -> Path:
        return home.expanduser().resolve()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = _config_file_path(init_settings)
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=toml_file))

    def with_overrides(self, **sections: dict[str, Any]) -> Settings:
        """These settings with some fields of some sections changed (``retrieval={"k": 8}``), validated as the
        config file is, so a bad value is the same one-line ``UserError``. Nothing is read again."""
        data = self.model_dump()
        for section, fields in sections.items():
            data[section] = {**data[section], **fields}
        return _validated(lambda: type(self).model_validate(data))

    # Paths under the data home: the layout lives here and nowhere else.
    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def index_dir(self) -> Path:
        return self.home / "index"

    @property
    def adapters_dir(self) -> Path:
        return self.home / "adapters"

    @property
    def conversations_db(self) -> Path:
        return self.home / "conversations.sqlite"

    @property
    def ui_db(self) -> Path:
        """The web app's transcripts (answers with their sources) and users' feedback."""
        return self.home / "ui.sqlite"

    @property
    def uploads_dir(self) -> Path:
        """Documents uploaded in the web app, kept so that re-ingesting them finds them unchanged."""
        return self.home / "uploads"

    @property
    def eval_runs_dir(self) -> Path:
        """Eval runs started from the web app, one folder each."""
        return self.home / "eval-runs"


def _config_file_path(init_settings: PydanticBaseSettingsSource) -> Path:
    """The TOML file depends on ``home``, so it is found before the other sources are read."""
    return _config_file_path_from(init_settings.init_kwargs if isinstance(init_settings, InitSettingsSource) else {})


def _config_file_path_from(given: dict[str, Any]) -> Path:
    explicit = given.get("config_file") or os.environ.get(f"{ENV_PREFIX}CONFIG_FILE")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise UserError(f"config file not found: {path}")
        return path
    home = given.get("home") or os.environ.get(f"{ENV_PREFIX}HOME") or default_home()
    return Path(home).expanduser() / "config.toml"


def load_settings(home: Path | None = None, config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings; CLI flags come in as ``home``/``config_file``/``overrides`` and win.

    A wrong value anywhere becomes one readable ``UserError`` naming the field.
    """
    init: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
    if home is not None:
        init["home"] = home
    if config_file is not None:
        init["config_file"] = config_file
    try:
        return _validated(lambda: Settings(**init))
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"cannot read {_config_file_path_from(init)}: {err}") from None


def _validated(build: Callable[[], Settings]) -> Settings:
    """Settings, or a ``UserError`` naming every field that is wrong."""
    try:
        return build()
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in err.errors())
        raise UserError(f"invalid configuration: {problems}") from None
