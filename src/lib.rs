//! tokenmirror keeps an exact local mirror of Uniswap v3 token data (token metadata and hourly
//! `TokenHourData` rows) from one or more subgraphs on The Graph, and serves it through its own
//! GraphQL API.
//!
//! # Layout
//!
//! - [`api`]: the GraphQL schema (no HTTP types) and its resolvers, one module per feature.
//! - [`error`]: the API's error type and its one mapping to `extensions.code`.
//! - [`config`]: the typed configuration (clap + environment), checked once at start.
//! - [`app`]: the server (and sync loop) put together, as `serve` runs it and tests start it.
//! - [`shutdown`]: the one Ctrl-C/SIGTERM signal every task watches.
//! - [`commands`]: what each subcommand does; `main.rs` only parses and dispatches.
//! - [`decimal`]: exact decimals as canonical strings, with the arithmetic candles need.
//! - [`db`]: connecting, migrations (the `migration` crate), entities, exact reads and
//!   idempotent writes on SQLite and PostgreSQL.
//! - [`simulator`]: the offline Uniswap v3 subgraph (`tokenmirror simulate`).
//! - [`sync`]: keeps the mirror in step with the upstream subgraphs (the loop inside `serve`).
//! - [`http`]: the axum router: `/graphql`, GraphiQL and its assets, health, metrics.
//! - [`metrics`]: the numbers behind `/metrics`.
//! - [`telemetry`]: structured logs.

pub mod api;
pub mod app;
pub mod commands;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod http;
pub mod metrics;
pub mod shutdown;
pub mod sync;
pub mod telemetry;

/// Exact decimals, shared with the simulated upstream (see [`tokenmirror_subgraph::decimal`]).
pub use tokenmirror_subgraph::decimal;
