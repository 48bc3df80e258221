//! The typed configuration: every option is a flag and an environment variable (the flag wins),
//! parsed and checked once at start. Values that cannot be right (a malformed `DATABASE_URL`,
//! `TOKENS` entry, duration or address) are refused here, naming the bad value, so nothing deeper
//! in the program has to wonder.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};

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

/// The subcommands (SPEC §2).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations, then serve the GraphQL API and run the sync loop in one process.
    Serve(ServeArgs),
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
    #[arg(long, env = "GRAPH_API_KEY", hide_env_values = true)]
    pub graph_api_key: Option<Secret>,
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
}

/// `tokenmirror serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DbArgs,
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

/// `tokenmirror simulate`: the offline Uniswap v3 subgraph (SPEC §6).
#[derive(Debug, Clone, Args)]
pub struct SimulateArgs {
    /// Address to listen on; the subgraph answers at `/` and `/graphql`.
    #[arg(long, env = "SIM_LISTEN", default_value = "127.0.0.1:8001", value_parser = parse_listen)]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub sim: SimArgs,
}

/// What the simulated upstream serves and how it misbehaves.
#[derive(Debug, Clone, Args)]
pub struct SimArgs {
    /// Seed: the same seed, token count, history and clock give byte-identical answers.
    #[arg(long, env = "SIM_SEED", default_value_t = 1)]
    pub seed: u64,
    /// Number of simulated tokens.
    #[arg(long, env = "SIM_TOKENS", default_value_t = 5, value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub tokens: u32,
    /// Hourly rows exist for hours starting in [now - HISTORY, now], gaps aside.
    #[arg(long, env = "SIM_HISTORY", default_value = "400d", value_parser = parse_duration)]
    pub history: Duration,
    /// Freeze the clock at this unix time (the data is then static).
    #[arg(long, env = "SIM_NOW", value_parser = parse_sim_now)]
    pub now: Option<i64>,
    /// Run the clock this many times faster than the wall clock.
    #[arg(long, env = "SIM_SPEED", default_value_t = 1.0, value_parser = parse_speed)]
    pub speed: f64,
    /// Share of requests (0..1) that fail: 5xx, 429, rate-limit and bad-indexer errors, dropped
    /// connections, malformed JSON.
    #[arg(long, env = "SIM_FAIL_RATE", default_value_t = 0.0, value_parser = parse_rate)]
    pub fail_rate: f64,
    /// Delay before every answer.
    #[arg(long, env = "SIM_LATENCY", default_value = "0s", value_parser = parse_duration)]
    pub latency: Duration,
    /// How far `_meta` and the served data trail the clock (indexing lag).
    #[arg(long, env = "SIM_LAG", default_value = "0s", value_parser = parse_duration)]
    pub lag: Duration,
    /// Largest `skip` accepted (the hosted service allowed 5000).
    #[arg(long, env = "SIM_MAX_SKIP", default_value_t = 5000)]
    pub max_skip: u64,
    /// Serve malformed hourly rows for the token with this index (tests the sync's permanent
    /// error path).
    #[arg(long, env = "SIM_CORRUPT_TOKEN")]
    pub corrupt_token: Option<u32>,
}

impl Default for SimArgs {
    /// The flags' defaults: seed 1, 5 tokens, 400 days, the wall clock, no faults.
    fn default() -> Self {
        SimArgs {
            seed: 1,
            tokens: 5,
            history: Duration::from_secs(400 * 86_400),
            now: None,
            speed: 1.0,
            fail_rate: 0.0,
            latency: Duration::ZERO,
            lag: Duration::ZERO,
            max_skip: 5000,
            corrupt_token: None,
        }
    }
}

/// A database URL whose scheme tokenmirror supports.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The URL as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for SQLite.
    pub fn is_sqlite(&self) -> bool {
        self.0.starts_with("sqlite:")
    }
}

impl FromStr for DatabaseUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = if let Some(rest) = s.strip_prefix("sqlite:") {
            !rest.trim_start_matches('/').is_empty()
        } else if let Some(rest) = s
            .strip_prefix("postgres://")
            .or_else(|| s.strip_prefix("postgresql://"))
        {
            let authority = rest.split(['/', '?']).next().unwrap_or("");
            // The driver parses it as a URL: a port out of range or not a number is refused
            // here, as a configuration error, rather than when the database is opened.
            !authority.is_empty()
                && !authority.ends_with('@')
                && url::Url::parse(s).is_ok_and(|u| u.host_str().is_some_and(|h| !h.is_empty()))
        } else {
            false
        };
        if ok {
            Ok(DatabaseUrl(s.to_owned()))
        } else {
            Err(format!(
                "{:?} is not a database URL: use sqlite://PATH?mode=rwc or postgres://USER@HOST:PORT/DB",
                redact_url(s)
            ))
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", redact_url(&self.0))
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(&self.0))
    }
}

/// `scheme://host[:port]` of a URL, with `/…` for any path or query: an upstream URL may carry
/// an API key anywhere after the host (The Graph's `/api/<key>/…`, `?api_key=`), so logs,
/// errors and `syncStatus` show only where it points.
pub fn origin_only(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "***".to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let tail = &rest[end..];
    let elided = if tail.is_empty() || tail == "/" {
        tail
    } else {
        "/…"
    };
    format!("{scheme}://{host}{elided}")
}

/// Hides the password of a `scheme://user:password@host` URL.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        _ => url.to_owned(),
    }
}

/// A secret value: its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl Secret {
    /// Whether the secret can be an API key: non-empty, no spaces, no `/`. Checked when the
    /// configuration is resolved rather than while parsing, so that no error ever echoes it.
    fn is_well_formed(&self) -> bool {
        !self.0.is_empty() && !self.0.contains(|c: char| c.is_whitespace() || c == '/')
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;
    /// Takes any text, without the whitespace an env file may leave around it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.trim().to_owned()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Networks with a known Uniswap v3 subgraph on The Graph's decentralized network.
pub const KNOWN_SUBGRAPHS: [(&str, &str); 9] = [
    ("ethereum", "5zvR82QoaXYFyDEKLZ9t6v9adgnptxYpKpSbxtgVENFV"),
    ("arbitrum", "FbCGRftH4a3yZugY7TnbYgPJVEv2LvMT6oF1fxPe9aJM"),
    ("base", "43Hwfi3dJSoGpyas9VwNoDAv55yjgGrPpNSmbQZArzMG"),
    ("optimism", "Cghf4LfVqPiFw6fp6Y5X5Ubc8UpmUhSfJL82zwiBFLaj"),
    ("polygon", "3hCPRGf4z88VC5rsBKU5AA9FBBq5nF3jbKJG7VZCbhjm"),
    ("bsc", "F85MNzUGYqgSHSHRGgeVMNsdnW1KtZSVgFULumXRZTw2"),
    ("avalanche", "GVH9h9KZ9CqheUEL93qMbq7QwgoBu32QXQDPR6bev4Eo"),
    ("celo", "ESdrTJ3twMwWVoQ1hUE2u7PugEHX3QkenudD6aXCkDQ4"),
    ("blast", "2LHovKznvo8YmKC9ZprPjsYAZDCc4K5q4AYz8s3cnQn1"),
];

/// A value parser for options that may hold a secret (a database password, an API key in an
/// upstream URL): clap's own "invalid value '…'" error would echo the whole value, so the error
/// is only the type's message, which redacts what it shows.
#[derive(Clone)]
pub struct NoEcho<T>(std::marker::PhantomData<fn() -> T>);

impl<T> NoEcho<T> {
    pub fn new() -> Self {
        NoEcho(std::marker::PhantomData)
    }
}

impl<T> Default for NoEcho<T> {
    fn default() -> Self {
        NoEcho::new()
    }
}

impl<T> clap::builder::TypedValueParser for NoEcho<T>
where
    T: FromStr<Err = String> + Clone + Send + Sync + 'static,
{
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<T, clap::Error> {
        use clap::error::ErrorKind;
        let name = arg.map_or_else(|| "the value".to_owned(), |a| format!("'{a}'"));
        let Some(text) = value.to_str() else {
            let msg = format!("invalid value for {name}: not UTF-8\n");
            return Err(clap::Error::raw(ErrorKind::InvalidUtf8, msg).with_cmd(cmd));
        };
        text.parse().map_err(|e: String| {
            let msg = format!("invalid value for {name}: {e}\n");
            clap::Error::raw(ErrorKind::ValueValidation, msg).with_cmd(cmd)
        })
    }
}

/// An address to listen on: an IP address and a port.
fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    s.parse().map_err(|_| {
        format!(
            "{s:?} is not an address to listen on: write IP:PORT, such as 127.0.0.1:8000, \
             0.0.0.0:8000 or [::1]:8000 (not a host name)"
        )
    })
}

/// A limit that 0 would turn into "refuse everything".
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("{s:?} is not a whole number of at least 1")),
    }
}

/// A comma-separated list. Empty entries are skipped, so `TOKENS=` (set but empty) or a trailing
/// comma mean what they look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct List<T>(pub Vec<T>);

impl<T> Default for List<T> {
    fn default() -> Self {
        List(Vec::new())
    }
}

impl<T: FromStr<Err = String>> FromStr for List<T> {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(T::from_str)
            .collect::<Result<Vec<T>, String>>()
            .map(List)
    }
}

impl<T> std::ops::Deref for List<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

/// One `UPSTREAMS` entry as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamSpec {
    pub name: String,
    /// `None` for a bare known name (The Graph's gateway).
    pub url: Option<String>,
}

fn check_network_name(name: &str) -> Result<(), String> {
    if !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        Ok(())
    } else {
        Err(format!(
            "network name {name:?} must match [a-z0-9-]+ (e.g. ethereum, base, sim)"
        ))
    }
}

impl FromStr for UpstreamSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        match s.split_once('=') {
            Some((name, url)) => {
                check_network_name(name)?;
                if !(url.starts_with("http://") || url.starts_with("https://"))
                    || url.len() <= "https://".len()
                {
                    return Err(format!(
                        "upstream {name:?} has URL {:?}: expected http:// or https://",
                        origin_only(url)
                    ));
                }
                Ok(UpstreamSpec {
                    name: name.to_owned(),
                    url: Some(url.to_owned()),
                })
            }
            None => {
                check_network_name(s)?;
                if !KNOWN_SUBGRAPHS.iter().any(|(n, _)| *n == s) {
                    let known: Vec<&str> = KNOWN_SUBGRAPHS.iter().map(|(n, _)| *n).collect();
                    return Err(format!(
                        "{s:?} is not a known network; write {s}=URL or use one of {}",
                        known.join(", ")
                    ));
                }
                Ok(UpstreamSpec {
                    name: s.to_owned(),
                    url: None,
                })
            }
        }
    }
}

/// One `TOKENS` entry as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSpec {
    /// `None` for a bare address (the default network).
    pub network: Option<String>,
    /// Lowercase `0x` + 40 hex.
    pub address: String,
}

/// Checks an `0x` + 40 hex address and lowercases it.
pub fn parse_address(s: &str) -> Result<String, String> {
    let hex = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"));
    match hex {
        Some(h) if h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(format!("0x{}", h.to_ascii_lowercase()))
        }
        _ => Err(format!(
            "{s:?} is not an address: expected 0x followed by 40 hex digits"
        )),
    }
}

impl FromStr for TokenSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        match s.split_once(':') {
            Some((network, address)) => {
                check_network_name(network)?;
                Ok(TokenSpec {
                    network: Some(network.to_owned()),
                    address: parse_address(address)?,
                })
            }
            None => Ok(TokenSpec {
                network: None,
                address: parse_address(s)?,
            }),
        }
    }
}

/// `BACKFILL`: how far back history starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backfill {
    /// Counted back from the upstream's head block time.
    Duration(Duration),
    /// From 00:00 UTC of this date.
    Since(NaiveDate),
}

impl Backfill {
    /// The first hour (unix seconds, floored to the hour) to mirror, given the upstream head.
    pub fn start_hour(&self, head_unix: i64) -> i64 {
        let start = match self {
            Backfill::Duration(d) => head_unix.saturating_sub(d.as_secs() as i64),
            Backfill::Since(date) => date
                .and_hms_opt(0, 0, 0)
                .map(|t| t.and_utc().timestamp())
                .unwrap_or(0),
        };
        start.div_euclid(3600) * 3600
    }
}

impl FromStr for Backfill {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(date) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            return Ok(Backfill::Since(date));
        }
        parse_duration(s).map(Backfill::Duration).map_err(|_| {
            format!("{s:?} is neither a duration (7d, 400d, 12h) nor a date (2024-01-01)")
        })
    }
}

/// Parses `90s`, `5m`, `3h`, `7d`, `2w` (a whole number and one unit).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || {
        format!("{s:?} is not a duration: write a whole number and a unit s, m, h, d or w (90s, 5m, 3h, 7d)")
    };
    let unit_at = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (digits, unit) = s.split_at(unit_at);
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(bad()),
    };
    n.checked_mul(scale)
        .filter(|secs| *secs <= 100 * 365 * 86_400)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{s:?} is longer than 100 years"))
}

/// Like [`parse_duration`], refusing zero (a zero interval or timeout cannot work).
pub fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    match parse_duration(s)? {
        d if d.is_zero() => Err(format!("{s:?} must be longer than zero")),
        d => Ok(d),
    }
}

/// A CORS origin: `*`, or `http(s)://host[:port]` with no path.
fn parse_origin(s: &str) -> Result<String, String> {
    let s = s.trim();
    let ok = s == "*"
        || ["http://", "https://"].iter().any(|scheme| {
            s.strip_prefix(scheme).is_some_and(|host| {
                !host.is_empty() && !host.contains(['/', ' ', '?', '#', '*']) && host.is_ascii()
            })
        });
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "{s:?} is not an origin: write * or scheme://host[:port], e.g. https://app.example.com"
        ))
    }
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("{s:?} is not a rate between 0 and 1")),
    }
}

/// `--now`: a unix time on the simulated chain, which starts at Ethereum's genesis block
/// (2015-07-30T15:26:13Z), and before the year 10000.
fn parse_sim_now(s: &str) -> Result<i64, String> {
    const LAST: i64 = 253_402_300_799;
    match s.parse::<i64>() {
        Ok(t) if (crate::simulator::GENESIS_UNIX..=LAST).contains(&t) => Ok(t),
        _ => Err(format!(
            "{s:?} is not a time on the simulated chain: write unix seconds from {} \
             (2015-07-30, its genesis block) to {LAST}",
            crate::simulator::GENESIS_UNIX
        )),
    }
}

fn parse_speed(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(k) if k.is_finite() && k > 0.0 && k <= 1e6 => Ok(k),
        _ => Err(format!(
            "{s:?} is not a speed: expected a number above 0 (e.g. 1, 60)"
        )),
    }
}

/// A configuration that parses but cannot work, found when the parts are put together.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "TOKENS entry {address} names network {network:?}, which is not in UPSTREAMS ({known})"
    )]
    UnknownNetwork {
        network: String,
        address: String,
        known: String,
    },
    #[error(
        "TOKENS is set but UPSTREAMS is empty: name at least one upstream, e.g. UPSTREAMS=ethereum"
    )]
    NoUpstreams,
    #[error("upstream {0:?} uses The Graph's gateway and needs GRAPH_API_KEY")]
    MissingApiKey(String),
    #[error(
        "GRAPH_API_KEY is malformed (its value is not shown): an API key is non-empty, without \
         spaces or '/'"
    )]
    MalformedApiKey,
    #[error("upstream {0:?} is listed twice in UPSTREAMS")]
    DuplicateUpstream(String),
}

/// Where one network's subgraph answers.
#[derive(Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A URL given in `UPSTREAMS`.
    Url(String),
    /// The Graph's gateway for a known subgraph; the key is added when a request is sent.
    Gateway {
        subgraph_id: &'static str,
        api_key: Secret,
    },
}

impl Endpoint {
    /// The URL to send requests to (with the API key in it, so never log this).
    pub fn request_url(&self) -> String {
        match self {
            Endpoint::Url(u) => u.clone(),
            Endpoint::Gateway {
                subgraph_id,
                api_key,
            } => format!(
                "https://gateway.thegraph.com/api/{}/subgraphs/id/{subgraph_id}",
                api_key.expose()
            ),
        }
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string())
    }
}

impl fmt::Display for Endpoint {
    /// The URL with any secret replaced by `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Url(u) => f.write_str(&origin_only(u)),
            Endpoint::Gateway { subgraph_id, .. } => write!(
                f,
                "https://gateway.thegraph.com/api/***/subgraphs/id/{subgraph_id}"
            ),
        }
    }
}

/// One network to sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub network: String,
    pub endpoint: Endpoint,
}

/// A token to mirror, its network resolved.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenKey {
    pub network: String,
    pub address: String,
}

/// The upstreams and tokens, checked against each other.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// In `UPSTREAMS` order; the first is the default network.
    pub upstreams: Vec<Upstream>,
    /// Tokens to mirror, each on one of `upstreams`.
    pub tokens: Vec<TokenKey>,
}

impl Sources {
    /// The configured network names, in order.
    pub fn networks(&self) -> Vec<String> {
        self.upstreams.iter().map(|u| u.network.clone()).collect()
    }
}

impl UpstreamArgs {
    /// Resolves bare tokens to the default network and gateway names to URLs, refusing tokens
    /// on unknown networks and gateway upstreams without a key.
    pub fn resolve(&self) -> Result<Sources, ConfigError> {
        let mut upstreams: Vec<Upstream> = Vec::new();
        for spec in self.upstreams.iter() {
            if upstreams.iter().any(|u| u.network == spec.name) {
                return Err(ConfigError::DuplicateUpstream(spec.name.clone()));
            }
            let endpoint = match &spec.url {
                Some(url) => Endpoint::Url(url.clone()),
                None => {
                    let api_key = self
                        .graph_api_key
                        .clone()
                        .ok_or_else(|| ConfigError::MissingApiKey(spec.name.clone()))?;
                    if !api_key.is_well_formed() {
                        return Err(ConfigError::MalformedApiKey);
                    }
                    // `UpstreamSpec` accepts only known names without a URL.
                    let subgraph_id = KNOWN_SUBGRAPHS
                        .iter()
                        .find(|(n, _)| *n == spec.name)
                        .map_or("", |(_, id)| *id);
                    Endpoint::Gateway {
                        subgraph_id,
                        api_key,
                    }
                }
            };
            upstreams.push(Upstream {
                network: spec.name.clone(),
                endpoint,
            });
        }
        let default = upstreams.first().map(|u| u.network.clone());
        let mut tokens: Vec<TokenKey> = Vec::new();
        for t in self.tokens.iter() {
            let network = match (&t.network, &default) {
                (Some(n), _) => n.clone(),
                (None, Some(d)) => d.clone(),
                (None, None) => return Err(ConfigError::NoUpstreams),
            };
            if !upstreams.iter().any(|u| u.network == network) {
                return Err(ConfigError::UnknownNetwork {
                    network,
                    address: t.address.clone(),
                    known: upstreams
                        .iter()
                        .map(|u| u.network.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
            let key = TokenKey {
                network,
                address: t.address.clone(),
            };
            if !tokens.contains(&key) {
                tokens.push(key);
            }
        }
        Ok(Sources { upstreams, tokens })
    }
}

/// Unix seconds as a UTC time (clamped to the representable range).
pub fn utc(unix: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(unix, 0).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("3h").unwrap(), Duration::from_secs(10_800));
        assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(604_800));
        for bad in [
            "",
            "7",
            "d",
            "7x",
            "-1h",
            "1.5h",
            "1h30m",
            "99999999999999999999d",
        ] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn backfill_floors_to_the_hour() {
        let b: Backfill = "1d".parse().unwrap();
        assert_eq!(
            b.start_hour(1_700_000_123),
            (1_700_000_123 - 86_400) / 3600 * 3600
        );
        let b: Backfill = "2024-01-01".parse().unwrap();
        assert_eq!(b.start_hour(0), 1_704_067_200);
        assert!("2024-13-01".parse::<Backfill>().is_err());
    }

    #[test]
    fn database_urls() {
        for ok in [
            "sqlite://tokenmirror.db?mode=rwc",
            "sqlite::memory:",
            "postgres://postgres@127.0.0.1:5432/test",
            "postgresql://u:p@h/db",
        ] {
            assert!(ok.parse::<DatabaseUrl>().is_ok(), "{ok}");
        }
        for bad in [
            "",
            "mysql://x",
            "postgres://",
            "tokenmirror.db",
            "sqlite:",
            "postgres://u@127.0.0.1:99999/x",
            "postgres://u@127.0.0.1:abc/x",
        ] {
            assert!(bad.parse::<DatabaseUrl>().is_err(), "{bad}");
        }
        let err = "mysql://u:secret@h/db".parse::<DatabaseUrl>().unwrap_err();
        assert!(!err.contains("secret"), "{err}");
        // Nor does the command line's error echo it (clap's own would).
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
        for limit in ["--max-depth", "--max-complexity", "--max-body-bytes"] {
            assert!(Cli::try_parse_from(["tokenmirror", "serve", limit, "0"]).is_err());
            assert!(Cli::try_parse_from(["tokenmirror", "serve", limit, "5"]).is_ok());
        }
    }

    #[test]
    fn tokens_and_upstreams_resolve() {
        let args = UpstreamArgs {
            upstreams: "sim=http://127.0.0.1:8001/, base,".parse().unwrap(),
            graph_api_key: Some("k3y".parse().unwrap()),
            tokens: "0xABCDEFabcdef0123456789012345678901234567,base:0x0000000000000000000000000000000000000001"
                .parse()
                .unwrap(),
        };
        let s = args.resolve().unwrap();
        assert_eq!(s.networks(), ["sim", "base"]);
        assert_eq!(s.tokens[0].network, "sim");
        assert_eq!(
            s.tokens[0].address,
            "0xabcdefabcdef0123456789012345678901234567"
        );
        assert_eq!(s.tokens[1].network, "base");
        let shown = format!("{:?}", s.upstreams[1]);
        assert!(!shown.contains("k3y"), "{shown}");
        assert!(s.upstreams[1].endpoint.request_url().contains("k3y"));

        // Whitespace an env file leaves around the key is dropped; a malformed key is refused
        // without being shown.
        let mut padded = args.clone();
        padded.graph_api_key = Some(" k3y\n".parse().unwrap());
        assert_eq!(padded.resolve().unwrap().upstreams[1], s.upstreams[1]);
        for bad in ["supersecret 1", "supersecret/1", " "] {
            let mut malformed = args.clone();
            malformed.graph_api_key = Some(bad.parse().unwrap());
            let err = malformed.resolve().unwrap_err().to_string();
            assert!(
                err.contains("GRAPH_API_KEY") && !err.contains("supersecret"),
                "{err}"
            );
        }

        let mut no_key = args.clone();
        no_key.graph_api_key = None;
        assert!(matches!(no_key.resolve(), Err(ConfigError::MissingApiKey(n)) if n == "base"));

        let mut unknown = args.clone();
        unknown.tokens = "mars:0x0000000000000000000000000000000000000001"
            .parse()
            .unwrap();
        let err = unknown.resolve().unwrap_err().to_string();
        assert!(err.contains("mars") && err.contains("sim, base"), "{err}");

        assert!("0x123".parse::<TokenSpec>().is_err());
        assert!("Main:0x0000000000000000000000000000000000000001"
            .parse::<TokenSpec>()
            .is_err());
        assert!("mars".parse::<UpstreamSpec>().is_err());
        assert!("x=ftp://a".parse::<UpstreamSpec>().is_err());
    }

    #[test]
    fn shown_upstream_urls_keep_no_secrets() {
        for (url, shown) in [
            ("http://127.0.0.1:8001/", "http://127.0.0.1:8001/"),
            (
                "https://gateway.thegraph.com/api/SECRET/subgraphs/id/x",
                "https://gateway.thegraph.com/…",
            ),
            (
                "https://h.example/graphql?api_key=SECRET",
                "https://h.example/…",
            ),
            ("https://user:SECRET@h.example", "https://h.example"),
        ] {
            let e = Endpoint::Url(url.to_owned());
            assert_eq!(e.to_string(), shown);
            assert!(!format!("{e:?}").contains("SECRET"));
        }
    }

    #[test]
    fn empty_lists_are_empty() {
        let empty: List<TokenSpec> = "".parse().unwrap();
        assert!(empty.is_empty());
        let one: List<TokenSpec> = " ,0x0000000000000000000000000000000000000001,"
            .parse()
            .unwrap();
        assert_eq!(one.len(), 1);
        assert!("0x1,".parse::<List<TokenSpec>>().is_err());
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn sim_defaults_are_the_flags_defaults() {
        let cli = Cli::try_parse_from(["tokenmirror", "simulate"]).unwrap();
        let Command::Simulate(args) = cli.command else {
            panic!("not simulate")
        };
        let (a, b) = (args.sim, SimArgs::default());
        assert_eq!(
            (a.seed, a.tokens, a.history, a.now, a.speed, a.fail_rate),
            (b.seed, b.tokens, b.history, b.now, b.speed, b.fail_rate)
        );
        assert_eq!(
            (a.latency, a.lag, a.max_skip, a.corrupt_token),
            (b.latency, b.lag, b.max_skip, b.corrupt_token)
        );
    }

    #[test]
    fn the_simulated_clock_starts_at_genesis() {
        let parse = |now: &str| {
            Cli::try_parse_from([
                "tokenmirror".to_owned(),
                "simulate".to_owned(),
                format!("--now={now}"),
            ])
        };
        assert!(parse("1600000000").is_ok());
        assert!(parse("1438269973").is_ok());
        for bad in ["1438269972", "0", "-5", "253402300800", "soon"] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(e.contains("genesis"), "{bad}: {e}");
        }
        assert!(Cli::try_parse_from(["tokenmirror", "simulate", "--tokens", "10001"]).is_err());
    }
}
