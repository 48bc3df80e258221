//! What a pass did, per network and token: the rows it changed, the pages it wrote, why a token
//! failed. `sync --once` prints it and the tests read it.

use crate::db::hours::PageOutcome;

/// What a pass did.
#[derive(Debug, Default, Clone)]
pub struct PassReport {
    pub networks: Vec<NetworkReport>,
}

impl PassReport {
    /// True when every token of every network synced.
    pub fn all_ok(&self) -> bool {
        self.networks
            .iter()
            .all(|n| n.tokens.iter().all(|t| t.error.is_none() && !t.interrupted))
    }

    /// Rows inserted or changed, over all tokens.
    pub fn rows_changed(&self) -> u64 {
        self.networks
            .iter()
            .flat_map(|n| &n.tokens)
            .map(|t| t.outcome.inserted + t.outcome.updated)
            .sum()
    }

    /// The report of one token.
    pub fn token(&self, network: &str, address: &str) -> Option<&TokenReport> {
        self.networks
            .iter()
            .filter(|n| n.network == network)
            .flat_map(|n| &n.tokens)
            .find(|t| t.address == address)
    }
}

/// What a pass did on one network.
#[derive(Debug, Clone)]
pub struct NetworkReport {
    pub network: String,
    /// The upstream block the pass was pinned to, if `_meta` answered.
    pub block: Option<i64>,
    pub tokens: Vec<TokenReport>,
}

/// What a pass did for one token.
#[derive(Debug, Clone, Default)]
pub struct TokenReport {
    pub address: String,
    pub outcome: PageOutcome,
    pub pages: u32,
    /// Why the token's pass failed (also stored in its sync state).
    pub error: Option<String>,
    /// The shutdown signal stopped it between pages.
    pub interrupted: bool,
}
