//! The integration suite, one binary: every test gets its own fresh database (a temp SQLite
//! file, or a uniquely named PostgreSQL database dropped afterwards). Tests that touch storage
//! run on both backends.

mod support;

mod api;
mod candles;
mod chaos;
mod cli;
mod dataset;
mod http;
mod live;
mod outage;
mod protect;
mod replicas;
mod secrets;
mod storage;
mod subgraph;
mod subscriptions;
mod sync;
mod udf;
