//! The upstream's language, shared by the mirror and its simulated upstream: the Uniswap v3
//! subgraph's API as graph-node serves it.
//!
//! # Layout
//!
//! - [`SDL`]: the part of the subgraph's schema the mirror uses (`upstream.graphql`), the one
//!   source of its names, types and arguments: the sync's typed queries are compiled against it
//!   and the simulator serves it.
//! - [`decimal`]: exact `BigDecimal`/`BigInt` values as the canonical strings graph-node writes,
//!   with the arithmetic candles need (exact sums rounded once, numeric comparison).
//! - [`number`]: numbers as clients write them in filters (any notation), rounded as graph-node
//!   rounds its arguments and compared exactly with decimals.
//! - [`query`]: the query language itself (parse, plan, filter, order, page, serialize), shared
//!   by the simulator's in-memory executor and the mirror's drop-in endpoint over SQL.
//! - [`rollup`]: combining consecutive hours (or days) into one period, as the subgraph builds
//!   `TokenDayData` from the same events.

pub mod decimal;
pub mod number;
pub mod query;
pub mod rollup;

pub use decimal::{Decimal, DecimalError, SIGNIFICANT_DIGITS};
pub use number::Number;

/// The upstream subgraph's SDL (the part the mirror uses), as graph-node generates it.
pub const SDL: &str = include_str!("../upstream.graphql");
