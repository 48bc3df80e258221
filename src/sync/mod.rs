//! The sync: keeps every tracked token's metadata and hourly rows identical to the upstream's,
//! across restarts, crashes and upstream faults (SPEC §5).
//!
//! - [`queries`]: the typed upstream queries (cynic, checked against `upstream.graphql`).
//! - [`client`]: sending them, and the transient/permanent error policy with retries.
//! - [`transform`]: validating upstream rows into storage rows (pure).
//! - [`pass`]: one pass per network (`Syncer::sync_once`), returning what it did.
//! - [`worker`]: the loop around it, and the PostgreSQL advisory lock.

pub mod client;
pub mod pass;
pub mod queries;
pub mod transform;
pub mod worker;

pub use client::RetryPolicy;
pub use pass::{PassReport, SyncSettings, Syncer};
