//! tokenmirror keeps an exact local mirror of Uniswap v3 token data (token metadata and hourly
//! `TokenHourData` rows) from one or more subgraphs on The Graph, and serves it through its own
//! GraphQL API.
//!
//! # Layout
//!
//! - [`config`]: the typed configuration (clap + environment), checked once at start.
//! - [`commands`]: what each subcommand does; `main.rs` only parses and dispatches.
//! - [`decimal`]: exact decimals as canonical strings, with the arithmetic candles need.
//! - [`db`]: connecting, migrations (the `migration` crate), entities, exact reads and
//!   idempotent writes on SQLite and PostgreSQL.
//! - [`telemetry`]: structured logs.

pub mod commands;
pub mod config;
pub mod db;
pub mod decimal;
pub mod telemetry;
