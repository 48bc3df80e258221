//! The sync: keeps every tracked token's metadata and hourly rows identical to the upstream's,
//! across restarts, crashes and upstream faults.
//!
//! - [`queries`]: the typed upstream queries (cynic, checked against the upstream SDL of
//!   `tokenmirror-subgraph`).
//! - [`client`]: sending them, and the transient/permanent error policy with retries.
//! - [`transform`]: validating upstream rows into storage rows (pure).
//! - [`plan`]: which hours a token's pass fetches (pure).
//! - [`pass`]: one pass per network ([`Syncer::sync_once`]), fetching and committing page by
//!   page; [`report`]: what it did; [`settings`]: how it fetches.
//! - [`worker`]: the loop around it, and the PostgreSQL advisory lock.

pub mod client;
pub mod pass;
pub mod plan;
pub mod queries;
pub mod report;
pub mod settings;
pub mod transform;
pub mod worker;

pub use client::RetryPolicy;
pub use pass::Syncer;
pub use report::{NetworkReport, PassReport, TokenReport};
pub use settings::SyncSettings;
