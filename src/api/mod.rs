//! The GraphQL API, built without any HTTP types so that the server, the tests and
//! `tokenmirror schema` share one [`schema()`] function.
//!
//! - [`schema`](mod@schema): the root type, limits and extensions put together;
//! - [`context`]: what resolvers share, and the checks of token arguments;
//! - [`tokens`]: `tokenMetadata`, `tokens`, `tokenHourData` and their object types;
//! - [`candle_args`]: the candle arguments, checked, and the `TokenCandle` type;
//! - [`candles`]: bucketing and exact aggregation of hourly rows (no GraphQL types);
//! - [`status`]: the sync status (`syncStatus`);
//! - [`subscriptions`]: `tokenCandles` and `syncStatus` pushed live; [`topics`]: live candles
//!   computed once per change for all their subscribers;
//! - [`scalars`]: `BigDecimal`, `BigInt`, `DateTime`, `Interval`, `Order`;
//! - [`codes`]: the `extensions.code` of parse, validation and execution errors;
//! - [`cycles`]: naming a cycle of fragment spreads.
//!
//! # Answers in the shape the GraphQL spec prescribes
//!
//! async-graphql 7.2.1 resolves sibling fields through `FuturesUnordered` and writes each as it
//! finishes (so fields come back in completion order), leaves a failed field out instead of
//! making it `null` (or its nearest nullable parent), answers `null` for an object whose every
//! field was skipped, and evaluates `@skip(if: $v)` without `$v`'s default. Until 2026-11 an
//! extension re-executed part of GraphQL on every answer to fix these up. It is gone: the
//! workspace carries async-graphql 7.2.1 with a 90-line patch of `do_resolve_container` and
//! `prepare_request` that fixes them where they happen (`vendor/README.md`, with the patch
//! written up to be offered upstream).
//!
//! Why the patch and not the layer, measured (a week of 1h candles, 168 buckets × 8 fields, over
//! HTTP on SQLite; wrk, 8 s per run, two rounds, release builds of both): the layer cost
//! nothing measurable — 429 and 370 req/s at 1 client, 898 and 738 at 32, against 404 and 395,
//! 864 and 785 with the patch, all within this machine's run-to-run noise. Speed did not
//! decide; coverage did: the patch also shapes subscription answers (whose events never reach
//! an extension's `execute` hook), interfaces and unions (which the layer could not type), and
//! each request's document is parsed once (the layer parsed it again to learn its shape).

pub mod candle_args;
pub mod candles;
pub mod codes;
pub mod context;
pub mod cycles;
pub mod scalars;
pub mod schema;
pub mod status;
pub mod subscriptions;
pub mod tokens;
pub mod topics;

pub use context::ApiContext;
pub use schema::{schema, sdl, ApiSchema, Limits, Query};

/// The operation of `doc` that a request naming `operation_name` runs, as async-graphql picks
/// it: the only one, or the one named.
pub fn selected_operation<'d>(
    doc: &'d async_graphql::parser::types::ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<&'d async_graphql::parser::types::OperationDefinition> {
    use async_graphql::parser::types::DocumentOperations;
    match (&doc.operations, operation_name) {
        (DocumentOperations::Single(op), _) => Some(&op.node),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| &op.node),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            ops.values().next().map(|op| &op.node)
        }
        _ => None,
    }
}
