//! sea-orm entities, one per table (see the migration crate for the DDL).
//!
//! Decimal columns are `String` with `select_as = "text"`: PostgreSQL's `NUMERIC` is read as
//! `CAST(col AS text)`, which gives back exactly the canonical string that was written (on SQLite
//! the column already is text). Writes of decimal tables go through [`crate::db::hours`] and
//! [`crate::db::tokens`], which cast parameters to `NUMERIC` on PostgreSQL.

pub mod change_log;
pub mod sync_state;
pub mod token_hour_data;
pub mod token_metadata;
pub mod tracked_token;
pub mod upstream_meta;
