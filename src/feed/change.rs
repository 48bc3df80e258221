//! What a committed write changed, and what each change makes stale.

use serde::{Deserialize, Serialize};

use crate::db::entity::change_log;
use crate::domain::TokenKey;

/// What one committed sync write changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A page of a token's hourly rows (inserts, updates, reorg deletes) with the token's sync
    /// state, covering `first_hour..=last_hour` (`None`: every hour from `first_hour` on).
    Hours {
        token: TokenKey,
        first_hour: i64,
        last_hour: Option<i64>,
    },
    /// The metadata of some tokens of one network.
    Metadata {
        network: String,
        addresses: Vec<String>,
    },
    /// Sync status: a token's pass result, or (no address) a network's upstream head.
    Status {
        network: String,
        address: Option<String>,
    },
    /// A network's sync pass ended (its tokens' statuses are final for this pass).
    PassDone { network: String },
    /// Anything may have changed: the tracked tokens, or a reader that lost track of the feed.
    Everything,
}

/// What an answer depends on; a change makes the answers that read any of its keys stale.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DepKey {
    /// A token's hourly rows and sync state (its candles).
    Hours(TokenKey),
    /// A token's metadata (and whether it is in the mirror at all).
    Metadata(TokenKey),
    /// The list of tokens and networks in the mirror.
    TokenList,
    /// The sync status of every token.
    Status,
}

impl Change {
    /// The keys this change makes stale; `None` for everything.
    pub fn keys(&self) -> Option<Vec<DepKey>> {
        match self {
            Change::Hours { token, .. } => Some(vec![DepKey::Hours(token.clone()), DepKey::Status]),
            Change::Metadata { network, addresses } => {
                let mut keys: Vec<DepKey> = addresses
                    .iter()
                    .map(|a| DepKey::Metadata(TokenKey::new(network.as_str(), a.as_str())))
                    .collect();
                keys.push(DepKey::TokenList);
                Some(keys)
            }
            Change::Status { .. } | Change::PassDone { .. } => Some(vec![DepKey::Status]),
            Change::Everything => None,
        }
    }

    /// The network it concerns, if one.
    pub fn network(&self) -> Option<&str> {
        match self {
            Change::Hours { token, .. } => Some(&token.network),
            Change::Metadata { network, .. }
            | Change::Status { network, .. }
            | Change::PassDone { network } => Some(network),
            Change::Everything => None,
        }
    }
}

/// A change as it travels: in the log table, and in a PostgreSQL notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub seq: i64,
    pub origin: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_hour: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_hour: Option<i64>,
    /// Unix microseconds, just before the writer's `COMMIT`.
    pub committed_at: i64,
}

impl Record {
    /// The row of `change`, before the log gives it its `seq`.
    pub fn of(change: &Change, origin: &str, committed_at: i64) -> Record {
        let (kind, network, address, first_hour, last_hour) = match change {
            Change::Hours {
                token,
                first_hour,
                last_hour,
            } => (
                "hours",
                Some(token.network.clone()),
                Some(token.address.clone()),
                Some(*first_hour),
                *last_hour,
            ),
            Change::Metadata { network, addresses } => (
                "metadata",
                Some(network.clone()),
                Some(addresses.join(",")),
                None,
                None,
            ),
            Change::Status { network, address } => {
                ("status", Some(network.clone()), address.clone(), None, None)
            }
            Change::PassDone { network } => ("pass", Some(network.clone()), None, None, None),
            Change::Everything => ("everything", None, None, None, None),
        };
        Record {
            seq: 0,
            origin: origin.to_owned(),
            kind: kind.to_owned(),
            network,
            address,
            first_hour,
            last_hour,
            committed_at,
        }
    }

    /// The change it records; a record this version does not understand means "everything".
    pub fn change(&self) -> Change {
        let network = || self.network.clone().unwrap_or_default();
        match (self.kind.as_str(), &self.address, self.first_hour) {
            ("hours", Some(address), Some(first_hour)) => Change::Hours {
                token: TokenKey::new(network(), address.as_str()),
                first_hour,
                last_hour: self.last_hour,
            },
            ("metadata", addresses, _) => Change::Metadata {
                network: network(),
                addresses: addresses
                    .as_deref()
                    .unwrap_or("")
                    .split(',')
                    .filter(|a| !a.is_empty())
                    .map(str::to_owned)
                    .collect(),
            },
            ("status", address, _) => Change::Status {
                network: network(),
                address: address.clone(),
            },
            ("pass", _, _) => Change::PassDone { network: network() },
            _ => Change::Everything,
        }
    }
}

impl From<change_log::Model> for Record {
    fn from(m: change_log::Model) -> Record {
        Record {
            seq: m.seq,
            origin: m.origin,
            kind: m.kind,
            network: m.network,
            address: m.address,
            first_hour: m.first_hour,
            last_hour: m.last_hour,
            committed_at: m.committed_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_carry_every_change_there_and_back() {
        let changes = [
            Change::Hours {
                token: TokenKey::new("sim", "0xaa"),
                first_hour: 3600,
                last_hour: Some(7200),
            },
            Change::Hours {
                token: TokenKey::new("sim", "0xaa"),
                first_hour: 3600,
                last_hour: None,
            },
            Change::Metadata {
                network: "sim".into(),
                addresses: vec!["0xaa".into(), "0xbb".into()],
            },
            Change::Status {
                network: "sim".into(),
                address: None,
            },
            Change::PassDone {
                network: "sim".into(),
            },
            Change::Everything,
        ];
        for c in changes {
            let r = Record::of(&c, "me", 1);
            let json = serde_json::to_string(&r).unwrap();
            let back: Record = serde_json::from_str(&json).unwrap();
            assert_eq!(back.change(), c, "{json}");
        }
        let unknown = Record {
            kind: "from-the-future".into(),
            ..Record::of(&Change::Everything, "x", 0)
        };
        assert_eq!(unknown.change(), Change::Everything);
    }
}
