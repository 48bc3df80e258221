//! The subgraph query language as graph-node implements it, once, for two executors: the
//! simulator's (in-memory rows) and the mirror's drop-in endpoint (rows from its database).
//!
//! - [`schema`]: the upstream SDL ([`crate::SDL`]) parsed, the single source of truth for names,
//!   types and arguments; [`value`] coerces inputs to it.
//! - [`mod@plan`]: parse, validate and plan a query into [`Node`]s; [`error`] holds
//!   graph-node's error texts and their JSON.
//! - [`list`]: `first`/`skip`, `where`, `orderBy` of the list fields, compiled once; the rows
//!   an executor found are then filtered ([`filter`] with [`ops`]), sorted and paged
//!   ([`order`]) the same way whoever found them.
//! - [`record`]: what an executor provides (its tokens and rows); [`output`] writes the JSON.
//! - [`request`]: a request as graph-node reads it from HTTP.

pub mod error;
pub mod fields;
pub mod filter;
pub mod list;
pub mod ops;
pub mod order;
pub mod output;
pub mod plan;
pub mod record;
pub mod request;
pub mod schema;
pub mod value;

pub use error::{errors_json, QueryError};
pub use plan::{plan, Node};
pub use record::{HourRecord, Tokens};
