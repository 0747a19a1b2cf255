"""The one settings class. Built once in an entry point and passed down (never global)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from common.secret_files import FileSettingsSource


class ChainEndpoint(BaseModel):
    """One chain the platform runs on: where its node answers and where its deployment
    manifest is. The home chain's comes from ``rpc_url``/``manifest_path``; further
    (bridged) chains from ``remote_chains``."""

    rpc_url: str = Field(description="JSON-RPC endpoint of the chain.")
    manifest_path: Path = Field(description="The chain's deployment manifest.")
    public_rpc_url: str | None = Field(
        None, description="JSON-RPC endpoint a wallet may be pointed at; unset: the wallet's."
    )
    name: str | None = Field(None, description="Display name, e.g. 'Datacoin L2'.")


class Settings(BaseSettings):
    """Every knob of the platform, read from ``DATACOIN_*`` environment variables, or from
    the file a ``DATACOIN_*_FILE`` variable names (secrets: :mod:`common.secret_files`).

    Example: ``DATACOIN_RPC_URL=http://127.0.0.1:8545``.
    """

    model_config = SettingsConfigDict(env_prefix="DATACOIN_", env_file=".env", extra="ignore")

    rpc_url: str = Field(
        "http://127.0.0.1:8545", description="JSON-RPC endpoint of the (home) chain."
    )
    chain_name: str | None = Field(None, description="Display name of the home chain.")
    remote_chains: list[ChainEndpoint] = Field(
        [],
        description="Further chains the platform runs on (bridged), as JSON: "
        '[{"rpc_url": "http://node-b:8545", "manifest_path": "/data/deployment-b.json"}];'
        " each has its own indexer and worker, and all share the database.",
    )
    database_url: str = Field(
        "postgresql+psycopg://postgres@127.0.0.1:5432/datacoin",
        description="SQLAlchemy URL of the PostgreSQL database (event store and read models).",
    )
    redis_url: str = Field(
        "redis://127.0.0.1:6379/0",
        description="Redis: sign-ins and sessions, and the broker unless broker_url is set.",
    )
    broker_url: str | None = Field(
        None,
        description="Dramatiq broker: redis://... or amqp://... (RabbitMQ); default: redis_url.",
    )
    data_dir: Path = Field(Path("var"), description="Root for local state (manifests, blobs).")
    manifest_path: Path | None = Field(
        None, description="Deployment manifest; default: <data_dir>/deployment.json."
    )
    deployer_key: SecretStr | None = Field(
        None,
        description="Private key that deploys contracts; dev chains default to anvil's first key.",
    )
    governance_voting_delay: int | None = Field(
        None,
        ge=0,
        description="`datacoin deploy`: blocks from a proposal to its vote; default: 1 on a"
        " dev chain, 7200 (a day of 12 s blocks) elsewhere.",
    )
    governance_voting_period: int | None = Field(
        None,
        ge=1,
        description="`datacoin deploy`: blocks a vote stays open; default: 20 on a dev chain,"
        " 50400 (a week) elsewhere.",
    )
    governance_timelock_delay: int | None = Field(
        None,
        ge=0,
        description="`datacoin deploy`: seconds from queuing a passed proposal to its"
        " execution; default: 60 on a dev chain, 172800 (two days) elsewhere.",
    )
    confirmations: int = Field(
        12, ge=0, description="Blocks below the head after which a block counts as final."
    )
    index_concurrency: int = Field(4, ge=1, description="getLogs ranges in flight in backfill.")
    index_initial_range: int = Field(
        20, ge=1, description="First getLogs range in blocks (adapts as it goes)."
    )
    index_workers: int = Field(
        2, ge=0, description="Processes that fetch, decode and encode backfill ranges (0: threads)."
    )
    poll_interval: float = Field(
        0.2,
        gt=0,
        description="Seconds between head polls when idle (a new block waits up to this long"
        " to be indexed, so for the live stream too).",
    )
    metrics_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Serve Prometheus metrics on this port when set (`datacoin index`,"
        " `project`, `work`; the API serves its own at /metrics).",
    )
    metrics_host: str = Field(
        "127.0.0.1", description="Address the metrics port binds (0.0.0.0 in a container)."
    )
    read_schema: str = Field(
        "readmodels",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="PostgreSQL schema of the live read models.",
    )
    projection_batch_size: int = Field(
        5_000, ge=1, description="Event-store entries read (and folded) per batch."
    )
    projection_commit_rows: int = Field(
        500_000,
        ge=1,
        description="When behind, fold batches into one transaction until this many rows"
        " changed (or `projection_commit_seconds` passed); live, every batch commits.",
    )
    projection_commit_seconds: float = Field(
        5.0, gt=0, description="Longest a projector folds without committing when behind."
    )
    api_host: str = Field("127.0.0.1", description="Address `datacoin serve` binds.")
    api_port: int = Field(8000, ge=1, le=65535, description="Port `datacoin serve` binds.")
    api_pool_size: int = Field(10, ge=2, description="PostgreSQL connections per API process.")
    public_url: str | None = Field(
        None,
        pattern=r"^https?://[^/?#\s]+/?$",
        description="Origin users reach the API and dApp at, behind the proxy"
        " (https://datacoin.example); sets siwe_domain and siwe_uri unless they are set.",
    )
    forwarded_allow_ips: list[str] = Field(
        [],
        description="Proxies whose X-Forwarded-For/-Proto the API believes, as JSON"
        ' addresses or networks: ["172.30.0.10"]; none by default.',
    )
    cors_origins: list[str] = Field(
        [],
        description="Browser origins the API answers cross-origin (CORS), as JSON: "
        '["https://app.example"]; none by default.',
    )
    public_rpc_url: str | None = Field(
        None,
        description="JSON-RPC endpoint the dApp's wallet may be pointed at (GET /deployment); "
        "unset: the wallet's own.",
    )
    walletconnect_project_id: str | None = Field(
        None, description="WalletConnect Cloud project id; unset: injected wallets only."
    )
    siwe_domain: str = Field(
        "localhost:8000", description="Domain a sign-in message must name (EIP-4361)."
    )
    siwe_uri: str = Field("http://localhost:8000", description="URI the dApp puts in messages.")
    siwe_chain_ids: list[int] = Field([31337], description="Chains a sign-in may name.")
    siwe_nonce_ttl: int = Field(300, ge=10, description="Seconds a sign-in nonce stays valid.")
    session_ttl: int = Field(86_400, ge=60, description="Seconds a session token stays valid.")
    ipfs_api_url: str | None = Field(
        None, description="Kubo RPC URL (e.g. http://127.0.0.1:5001); unset: embedded store."
    )
    platform_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Key ring wrapping dataset keys: JSON {key_id: base64 32-byte key}; "
        "unset on a dev machine: generated once under <data_dir>.",
    )
    platform_key_id: str | None = Field(None, description="Key id new uploads are wrapped with.")
    upload_max_bytes: int = Field(200 * 2**20, ge=1, description="Largest accepted upload.")
    upload_max_rows: int = Field(10_000_000, ge=1, description="Most rows in an upload.")
    upload_max_columns: int = Field(1_000, ge=1, description="Most columns in an upload.")
    worker_key: SecretStr | None = Field(
        None,
        description="Key that signs logTraining (registered and staked); dev chains: "
        "anvil's key 0.",
    )
    bridge_relayers: list[str] = Field(
        [],
        description="`datacoin deploy` with remote chains: the bridge's relayer set"
        " (addresses, JSON list); dev chains: anvil's accounts 7, 8 and 9.",
    )
    bridge_threshold: int | None = Field(
        None, ge=1, description="Relayer signatures a bridge message needs; dev chains: 2."
    )
    bridge_relayer_keys: list[SecretStr] = Field(
        [],
        description="Keys this bridge relayer signs messages with, as a JSON list (each must"
        " be in the bridge contracts' relayer set; the first also pays for deliveries); dev"
        " chains: anvil's accounts 7, 8 and 9.",
    )
    bridge_relayer_interval: float = Field(
        0.5, gt=0, description="Seconds between the relayer's looks for final sends."
    )
    sandbox_backend: Literal["bubblewrap", "docker"] = Field(
        "bubblewrap",
        description="Where training runs: bubblewrap here, Docker on hosts with an engine.",
    )
    sandbox_uid: int = Field(61000, ge=1, description="Unprivileged uid training runs as.")
    sandbox_docker_image: str = Field(
        "datacoin-trainer:latest", description="Docker sandbox image."
    )
    sandbox_cpu_seconds: int = Field(600, ge=1, description="CPU-time limit of a training job.")
    sandbox_memory_bytes: int = Field(4 * 2**30, ge=2**26, description="Memory limit of a job.")
    sandbox_max_processes: int = Field(64, ge=4, description="Process/thread limit of a job.")
    sandbox_output_bytes: int = Field(256 * 2**20, ge=2**20, description="Output-size limit.")
    sandbox_wall_seconds: float = Field(900, gt=0, description="Wall-clock limit of a job.")
    training_device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="auto: cuda when available, else CPU."
    )
    training_max_dataset_bytes: int = Field(
        256 * 2**20, ge=1, description="Largest dataset a job fetches."
    )
    training_spares: int = Field(1, ge=0, description="Sandboxes started ahead (torch imported).")
    work_dir: Path | None = Field(None, description="Job directories; default <data_dir>/work.")
    broker_namespace: str = Field(
        "datacoin", description="Key prefix of the broker's queues on Redis."
    )
    log_format: Literal["auto", "json", "console"] = Field(
        "auto", description="auto: pretty on a terminal, JSON otherwise."
    )
    log_level: str = Field("INFO", description="Minimum log level.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then the environment, then ``DATACOIN_*_FILE`` files, then `.env`."""
        files = FileSettingsSource(settings_cls)
        return init_settings, env_settings, files, dotenv_settings, file_secret_settings

    @model_validator(mode="after")
    def _siwe_from_public_url(self) -> Self:
        """Behind a proxy, sign-in messages name the public origin (EIP-4361's domain is
        the authority: host and any port), unless siwe_domain/siwe_uri say otherwise."""
        if self.public_url is None:
            return self
        origin = self.public_url.rstrip("/")
        if "siwe_domain" not in self.model_fields_set:
            self.siwe_domain = urlsplit(origin).netloc
        if "siwe_uri" not in self.model_fields_set:
            self.siwe_uri = origin
        return self

    @property
    def blocks_dir(self) -> Path:
        """Where the embedded block store keeps its blocks."""
        return self.data_dir / "blocks"

    @property
    def manifest_file(self) -> Path:
        """Where the (home chain's) deployment manifest is read and written."""
        return self.manifest_path or self.data_dir / "deployment.json"

    def chain_endpoints(self) -> list[ChainEndpoint]:
        """Every chain the platform runs on: the home chain first, then `remote_chains`."""
        home = ChainEndpoint(
            rpc_url=self.rpc_url,
            manifest_path=self.manifest_file,
            public_rpc_url=self.public_rpc_url,
            name=self.chain_name,
        )
        return [home, *self.remote_chains]

    def for_chain(self, endpoint: ChainEndpoint) -> Settings:
        """These settings for a component that serves one chain (an indexer, a worker):
        `endpoint` becomes the home chain and no remote chain is left."""
        return self.model_copy(
            update={
                "rpc_url": endpoint.rpc_url,
                "manifest_path": endpoint.manifest_path,
                "public_rpc_url": endpoint.public_rpc_url,
                "chain_name": endpoint.name,
                "remote_chains": [],
            }
        )
