//! The offline Uniswap v3 subgraph (being built).
