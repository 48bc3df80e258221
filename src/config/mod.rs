//! The typed configuration: every option is a flag and an environment variable (the flag wins),
//! parsed and checked once at start and passed down; nothing deeper in the program reads the
//! environment. Values that cannot be right (a malformed `DATABASE_URL`, `TOKENS` entry,
//! duration or address) are refused here, naming the bad value.
//!
//! - this module: the command line — the subcommands and the option groups they share;
//! - [`values`]: parsers of single values (durations, listen addresses, lists, database URLs);
//! - [`sources`]: `UPSTREAMS`, `GRAPH_API_KEY` and `TOKENS`, resolved into [`Sources`];
//! - [`simulate`]: the simulated upstream's flags.

pub mod simulate;
pub mod sources;
pub mod values;

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use secrecy::SecretString;

pub use self::simulate::{SimArgs, SimulateArgs};
use self::sources::{parse_http_url, parse_secret, SourceSpecs, TokenSpec, UpstreamSpec};
pub use self::sources::{ConfigError, Endpoint, Sources, Upstream};
pub use self::values::DatabaseUrl;
use self::values::{
    at_least_one, parse_duration, parse_listen, parse_origin, parse_positive_duration, List, NoEcho,
};
use crate::domain::Backfill;

/// tokenmirror: an exact local mirror of Uniswap v3 token data from The Graph, served through
/// GraphQL.
#[derive(Debug, Parser)]
#[command(name = "tokenmirror", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations, then serve the GraphQL API and run the sync loop in one process.
    Serve(Box<ServeArgs>),
    /// Run the built-in simulated upstream and `serve` against it on tokenmirror-demo.db; no
    /// network needed.
    Demo(DemoArgs),
    /// Run only the simulated Uniswap v3 subgraph (for tests, demos and benchmarks).
    Simulate(SimulateArgs),
    /// Apply pending migrations and sync without the API: one pass with `--once`, else forever.
    Sync(SyncCommandArgs),
    /// Apply pending migrations and exit.
    Migrate(DbArgs),
    /// Print the API's GraphQL SDL (equal to the checked-in schema.graphql).
    Schema,
}

/// Logging.
#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// Log line format: human-readable text or one JSON object per line.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// Which log lines to write, as tracing filter directives (e.g. `info`,
    /// `tokenmirror=debug,info`).
    #[arg(
        long,
        env = "LOG_LEVEL",
        default_value = "info,sqlx=warn,sea_orm_migration=warn",
        global = true
    )]
    pub log_level: String,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where the mirror lives.
#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// Database: `sqlite://PATH?mode=rwc` (embedded, created if missing) or
    /// `postgres://USER@HOST:PORT/DB`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://tokenmirror.db?mode=rwc",
        hide_env_values = true,
        value_parser = NoEcho::<DatabaseUrl>::new()
    )]
    pub database_url: DatabaseUrl,
}

/// The upstream subgraphs and the tokens to mirror from them.
#[derive(Debug, Clone, Args)]
pub struct UpstreamArgs {
    /// Upstream subgraphs, comma-separated `name=url` or bare known `name` (ethereum, arbitrum,
    /// base, optimism, polygon, bsc, avalanche, celo, blast: The Graph's gateway with
    /// GRAPH_API_KEY). The first is the default network.
    #[arg(
        long,
        env = "UPSTREAMS",
        default_value = "",
        hide_default_value = true,
        hide_env_values = true,
        value_parser = NoEcho::<List<UpstreamSpec>>::new()
    )]
    pub upstreams: List<UpstreamSpec>,
    /// The Graph API key for bare network names (a secret: never printed or logged).
    #[arg(long, env = "GRAPH_API_KEY", hide_env_values = true, value_parser = parse_secret)]
    pub graph_api_key: Option<SecretString>,
    /// The Graph's gateway, where bare network names point.
    #[arg(
        long,
        env = "GRAPH_GATEWAY_URL",
        default_value = sources::DEFAULT_GATEWAY,
        value_parser = parse_http_url
    )]
    pub graph_gateway_url: url::Url,
    /// Tokens to mirror, comma-separated `network:0xaddress` or bare `0xaddress` (default
    /// network).
    #[arg(long, env = "TOKENS", default_value = "", hide_default_value = true)]
    pub tokens: List<TokenSpec>,
}

/// How the sync fetches.
#[derive(Debug, Clone, Args)]
pub struct SyncArgs {
    /// Pause between sync passes (e.g. 90s, 5m).
    #[arg(long, env = "SYNC_INTERVAL", default_value = "60s", value_parser = parse_positive_duration)]
    pub sync_interval: Duration,
    /// Where history starts: a duration back from the upstream's head (7d, 400d) or a date
    /// (2024-01-01).
    #[arg(long, env = "BACKFILL", default_value = "7d")]
    pub backfill: Backfill,
    /// Recent hours every pass fetches again (the current hour keeps changing upstream); a part
    /// of an hour counts as a whole one.
    #[arg(long, env = "OVERLAP", default_value = "3h", value_parser = parse_duration)]
    pub overlap: Duration,
    /// Tokens of one network synced at the same time (pages of one token are sequential).
    #[arg(long, env = "SYNC_CONCURRENCY", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub sync_concurrency: u16,
}

/// The HTTP API.
#[derive(Debug, Clone, Args)]
pub struct ApiArgs {
    /// Address the API listens on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:8000", value_parser = parse_listen)]
    pub listen_addr: SocketAddr,
    /// Origins browsers may call the API from: `*` or a comma-separated list of origins.
    #[arg(long, env = "CORS_ORIGINS", default_value = "*", value_delimiter = ',', value_parser = parse_origin)]
    pub cors_origins: Vec<String>,
    /// Deepest field nesting a query may have (introspection needs about 13).
    #[arg(long, env = "MAX_DEPTH", default_value_t = 20, value_parser = at_least_one)]
    pub max_depth: usize,
    /// Most fields a query may select in all (GraphiQL's introspection query needs a few
    /// hundred).
    #[arg(long, env = "MAX_COMPLEXITY", default_value_t = 2000, value_parser = at_least_one)]
    pub max_complexity: usize,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 1 << 20, value_parser = at_least_one)]
    pub max_body_bytes: usize,
    /// Longest a request may take before it is answered with 503.
    #[arg(long, env = "REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_positive_duration)]
    pub request_timeout: Duration,
    /// Memory for the response cache, in bytes (0 turns it off). Answers are kept until a sync
    /// write changes what they read, or the clock would change them.
    #[arg(long, env = "CACHE_BYTES", default_value_t = DEFAULT_CACHE_BYTES)]
    pub cache_bytes: u64,
    /// Most subscriptions open at once in the server.
    #[arg(long, env = "MAX_SUBSCRIPTIONS", default_value_t = 10_000, value_parser = at_least_one)]
    pub max_subscriptions: usize,
    /// Most subscriptions open at once on one WebSocket connection.
    #[arg(long, env = "MAX_SUBSCRIPTIONS_PER_CONNECTION", default_value_t = 100, value_parser = at_least_one)]
    pub max_subscriptions_per_connection: usize,
    /// Requests per client (IP address) allowed, e.g. `50/s`, `600/m`; off when unset.
    #[arg(long, env = "RATE_LIMIT")]
    pub rate_limit: Option<crate::http::ratelimit::Rate>,
    /// Requests a client may send at once after a pause (default: the rate's count).
    #[arg(long, env = "RATE_BURST", requires = "rate_limit")]
    pub rate_burst: Option<std::num::NonZeroU32>,
    /// Proxies (addresses or CIDR ranges, comma-separated) whose X-Forwarded-For names the
    /// client for the rate limit.
    #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Automatic persisted queries (Apollo's protocol): `auto` (on) or `off`.
    #[arg(long, env = "PERSISTED_QUERIES", default_value = "auto", value_parser = ["auto", "off"])]
    pub persisted_queries: String,
    /// Run only the operations of PERSISTED_QUERIES_FILE (an allow-list for production).
    #[arg(long, env = "PERSISTED_ONLY", default_value_t = false, action = clap::ArgAction::Set, requires = "persisted_queries_file")]
    pub persisted_only: bool,
    /// An Apollo persisted-query manifest (JSON), read at start: the operations PERSISTED_ONLY
    /// allows.
    #[arg(long, env = "PERSISTED_QUERIES_FILE")]
    pub persisted_queries_file: Option<std::path::PathBuf>,
    /// For `scripts/bench-api`: serve `POST /bench/fixed`, a fixed body of this many bytes.
    #[arg(long, hide = true)]
    pub bench_fixed_body: Option<usize>,
}

/// `CACHE_BYTES` by default: 64 MiB.
pub const DEFAULT_CACHE_BYTES: u64 = 64 << 20;

/// `tokenmirror serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Serve the API and the change feed only: no sync, and no write of any kind (tracked
    /// tokens, sync state and `_meta` stay as the syncing process leaves them).
    #[arg(
        long = "no-sync",
        env = "SYNC",
        action = clap::ArgAction::SetFalse,
        value_parser = clap::builder::FalseyValueParser::new()
    )]
    pub sync_enabled: bool,
    #[command(flatten)]
    pub db: DbArgs,
    /// PostgreSQL standbys of DATABASE_URL for the API's reads, comma-separated (the sync and
    /// the change feed stay on DATABASE_URL).
    #[arg(
        long,
        env = "DATABASE_READ_URLS",
        value_delimiter = ',',
        hide_env_values = true,
        value_parser = NoEcho::<DatabaseUrl>::new()
    )]
    pub database_read_urls: Vec<DatabaseUrl>,
    /// A standby further behind the change feed than this leaves the rotation until it
    /// catches up.
    #[arg(long, env = "MAX_REPLICA_LAG", default_value = "30s", value_parser = parse_positive_duration)]
    pub max_replica_lag: Duration,
    #[command(flatten)]
    pub upstream: UpstreamArgs,
    #[command(flatten)]
    pub sync: SyncArgs,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// `tokenmirror sync`.
#[derive(Debug, Clone, Args)]
pub struct SyncCommandArgs {
    /// Run one pass and exit: 0 when every token synced, 1 when any failed.
    #[arg(long)]
    pub once: bool,
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub upstream: UpstreamArgs,
    #[command(flatten)]
    pub sync: SyncArgs,
}

/// `tokenmirror demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// The demo's own database (never the user's tokenmirror.db).
    #[arg(
        long,
        env = "DEMO_DATABASE_URL",
        default_value = "sqlite://tokenmirror-demo.db?mode=rwc",
        hide_env_values = true,
        value_parser = NoEcho::<DatabaseUrl>::new()
    )]
    pub database_url: DatabaseUrl,
    /// Address the API listens on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:8000", value_parser = parse_listen)]
    pub listen_addr: SocketAddr,
    /// Seed of the simulated data.
    #[arg(long, env = "SIM_SEED", default_value_t = 1)]
    pub seed: u64,
    /// Number of simulated tokens (all of them are tracked).
    #[arg(long, env = "SIM_TOKENS", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub tokens: u32,
    /// Hours of simulated history, and how far back the demo backfills.
    #[arg(long, env = "SIM_HISTORY", default_value = "30d", value_parser = parse_duration)]
    pub history: Duration,
    /// Pause between sync passes.
    #[arg(long, env = "SYNC_INTERVAL", default_value = "10s", value_parser = parse_positive_duration)]
    pub sync_interval: Duration,
}

impl UpstreamArgs {
    /// Resolves bare tokens to the default network and gateway names to URLs, refusing tokens
    /// on unknown networks and gateway upstreams without a key.
    pub fn resolve(&self) -> Result<Sources, ConfigError> {
        SourceSpecs {
            upstreams: &self.upstreams,
            graph_api_key: self.graph_api_key.as_ref(),
            gateway: &self.graph_gateway_url,
            tokens: &self.tokens,
        }
        .resolve()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn no_secret_is_echoed_by_command_line_errors() {
        for (flag, value) in [
            ("--database-url", "postgres://u:sekret@host:notaport/db"),
            ("--upstreams", "x=ftp://host/api/sekret/subgraph"),
        ] {
            let err = Cli::try_parse_from(["tokenmirror", "serve", flag, value])
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(flag) && !err.contains("sekret"),
                "{flag}: {err}"
            );
        }
    }

    #[test]
    fn no_sync_is_a_flag_and_an_environment_variable() {
        let parse = |args: &[&str]| match Cli::try_parse_from(args).unwrap().command {
            Command::Serve(a) => a.sync_enabled,
            _ => unreachable!(),
        };
        assert!(parse(&["tokenmirror", "serve"]));
        assert!(!parse(&["tokenmirror", "serve", "--no-sync"]));
    }

    #[test]
    fn limits_of_zero_are_refused() {
        for limit in ["--max-depth", "--max-complexity", "--max-body-bytes"] {
            assert!(Cli::try_parse_from(["tokenmirror", "serve", limit, "0"]).is_err());
            assert!(Cli::try_parse_from(["tokenmirror", "serve", limit, "5"]).is_ok());
        }
    }
}
