//! The simulated upstream over real HTTP: graph-node's query API (arguments, filters, ordering,
//! paging, errors, serialization), the synthetic data (OHLC, gaps, determinism, the clock, the
//! live hour) and the faults. One test binary, one module per subject.

mod support;

mod clock;
mod data;
mod faults;
mod query;
mod sdl;
