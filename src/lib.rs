//! tokenmirror keeps an exact local mirror of Uniswap v3 token data (token metadata and hourly
//! `TokenHourData` rows) from one or more subgraphs on The Graph, and serves it through its own
//! GraphQL API.
//!
//! # Layout
//!
//! The workspace: this crate (the `tokenmirror` binary and its library), `migration/` (the
//! database schema, one sea-orm migration per file), `subgraph/` (`tokenmirror-subgraph`: the
//! upstream's SDL, its query language and its exact decimal values, shared with the simulator),
//! `simulator/`
//! (`tokenmirror-simulator`: the offline Uniswap v3 subgraph) and `vendor/async-graphql`
//! (async-graphql 7.2.1 with a small documented patch).
//!
//! Inside this crate, by layer — each module may use the ones listed after it, never before:
//!
//! - `main.rs`: parses the command line, starts logging, runs the subcommand; nothing else.
//! - [`commands`]: what each subcommand does, with its exit code.
//! - [`app`]: the server (and sync loop) put together, as `serve` runs it and tests start it.
//! - [`http`]: the axum router: `/graphql`, GraphiQL and its assets, health, metrics.
//! - [`dropin`]: the drop-in subgraph endpoint's executor (the upstream's own query language
//!   over the mirror's tables).
//! - [`api`]: the GraphQL schema (no HTTP types) and its resolvers, one module per feature.
//! - [`sync`]: keeps the mirror in step with the upstream subgraphs.
//! - [`db`]: connecting, migrations, entities, exact reads and idempotent writes.
//! - [`error`]: the API's errors and their one mapping to `extensions.code`.
//! - [`metrics`], [`telemetry`], [`shutdown`]: `/metrics`, logs, the one shutdown signal.
//! - [`config`]: the typed configuration (clap + environment), checked once at start.
//! - [`domain`]: the shared vocabulary (token keys, addresses, hours, backfill).
//! - [`decimal`]: exact decimals (re-exported from `tokenmirror-subgraph`).

pub mod api;
pub mod app;
pub mod commands;
pub mod config;
pub mod db;
pub mod domain;
pub mod dropin;
pub mod error;
pub mod feed;
pub mod http;
pub mod metrics;
pub mod shutdown;
pub mod sync;
pub mod telemetry;

/// Exact decimals, shared with the simulated upstream (see [`tokenmirror_subgraph::decimal`]).
pub use tokenmirror_subgraph::decimal;
