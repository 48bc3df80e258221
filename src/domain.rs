//! The mirror's own vocabulary, shared by every layer (configuration, storage, sync, API): which
//! token, which hour, how far back history starts. Nothing here does I/O.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};

/// Seconds in an hour: every stored row starts on a multiple of it.
pub const HOUR: i64 = 3600;

/// A mirrored token: its network (a name from `UPSTREAMS`) and its lowercase address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenKey {
    pub network: String,
    pub address: String,
}

impl TokenKey {
    pub fn new(network: impl Into<String>, address: impl Into<String>) -> TokenKey {
        TokenKey {
            network: network.into(),
            address: address.into(),
        }
    }
}

/// Checks an `0x` + 40 hex address and lowercases it.
pub fn parse_address(s: &str) -> Result<String, String> {
    let hex = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"));
    match hex {
        Some(h) if h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(format!("0x{}", h.to_ascii_lowercase()))
        }
        _ => Err(format!(
            "{s:?} is not an address: expected 0x followed by 40 hex digits"
        )),
    }
}

/// Unix seconds as a UTC time (clamped to the representable range).
pub fn utc(unix: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(unix, 0).unwrap_or_default()
}

/// The clock the API reads "now" from: the system's, or (tests) one set by hand.
#[derive(Debug, Clone, Default)]
pub enum Clock {
    #[default]
    System,
    /// Unix seconds, moved by whoever holds the other end.
    Manual(std::sync::Arc<std::sync::atomic::AtomicI64>),
}

impl Clock {
    /// A clock stopped at `unix`, and the handle that moves it.
    pub fn manual(unix: i64) -> (Clock, std::sync::Arc<std::sync::atomic::AtomicI64>) {
        let hand = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(unix));
        (Clock::Manual(hand.clone()), hand)
    }

    /// Now.
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Manual(t) => utc(t.load(std::sync::atomic::Ordering::SeqCst)),
        }
    }

    /// Now, in unix seconds.
    pub fn unix(&self) -> i64 {
        self.now().timestamp()
    }
}

/// `BACKFILL`: how far back history starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backfill {
    /// Counted back from the upstream's head block time.
    Duration(Duration),
    /// From 00:00 UTC of this date.
    Since(NaiveDate),
}

impl Backfill {
    /// The first hour (unix seconds, floored to the hour) to mirror, given the upstream head.
    pub fn start_hour(&self, head_unix: i64) -> i64 {
        let start = match self {
            Backfill::Duration(d) => head_unix.saturating_sub(d.as_secs() as i64),
            Backfill::Since(date) => date
                .and_hms_opt(0, 0, 0)
                .map(|t| t.and_utc().timestamp())
                .unwrap_or(0),
        };
        start.div_euclid(HOUR) * HOUR
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backfill_floors_to_the_hour() {
        let b = Backfill::Duration(Duration::from_secs(86_400));
        assert_eq!(
            b.start_hour(1_700_000_123),
            (1_700_000_123 - 86_400) / 3600 * 3600
        );
        let b = Backfill::Since(NaiveDate::from_ymd_opt(2024, 1, 1).unwrap());
        assert_eq!(b.start_hour(0), 1_704_067_200);
    }

    #[test]
    fn addresses_are_checked_and_lowercased() {
        assert_eq!(
            parse_address("0xABCDEFabcdef0123456789012345678901234567").unwrap(),
            "0xabcdefabcdef0123456789012345678901234567"
        );
        for bad in ["0x123", "abcdefabcdef0123456789012345678901234567", "0xZZ"] {
            assert!(parse_address(bad).is_err(), "{bad}");
        }
    }
}
