//! The simulator's clock and its chain: one block every 12 seconds from a fixed genesis, block
//! hashes derived from the seed, and the deployment id.
//!
//! The clock is frozen (`--now`, or [`Clock::set`] from tests) or runs `--speed` times as fast
//! as the wall clock from the moment the simulator started. The indexed head trails the clock by
//! `--lag`, and everything served is as of the head block's timestamp.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::noise::hash;

/// Timestamp of block 0 (Ethereum mainnet's genesis).
pub const GENESIS_UNIX: i64 = 1_438_269_973;
/// Seconds between blocks.
pub const BLOCK_SECONDS: i64 = 12;

const NOT_SET: i64 = i64::MIN;

/// The simulator's notion of now.
#[derive(Debug)]
pub struct Clock {
    /// Set by `--now` or [`Clock::set`]; `NOT_SET` while the clock runs.
    frozen: AtomicI64,
    /// Wall-clock seconds when the simulator started.
    start_wall: f64,
    speed: f64,
    lag: i64,
}

impl Clock {
    /// A clock frozen at `now`, or running at `speed` from the wall clock; the head trails it by
    /// `lag` seconds.
    pub fn new(now: Option<i64>, speed: f64, lag: i64) -> Clock {
        Clock {
            frozen: AtomicI64::new(now.unwrap_or(NOT_SET)),
            start_wall: wall_seconds(),
            speed: if speed.is_finite() && speed > 0.0 {
                speed
            } else {
                1.0
            },
            lag: lag.max(0),
        }
    }

    /// The clock, in unix seconds.
    pub fn now(&self) -> i64 {
        match self.frozen.load(Ordering::Relaxed) {
            NOT_SET => {
                let elapsed = (wall_seconds() - self.start_wall) * self.speed;
                (self.start_wall + elapsed).floor() as i64
            }
            t => t,
        }
    }

    /// Freezes the clock at `unix`.
    pub fn set(&self, unix: i64) {
        // Keep away from the sentinel and from overflow in block arithmetic.
        let unix = unix.clamp(-(1 << 50), 1 << 50);
        self.frozen.store(unix, Ordering::Relaxed);
    }

    /// The latest indexed block: the last block at or before `now - lag`.
    pub fn head(&self) -> i64 {
        block_at(self.now().saturating_sub(self.lag))
    }
}

fn wall_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The number of the last block at or before unix time `t` (0 before genesis).
pub fn block_at(t: i64) -> i64 {
    (t.saturating_sub(GENESIS_UNIX))
        .div_euclid(BLOCK_SECONDS)
        .max(0)
}

/// The timestamp of block `number`.
pub fn block_time(number: i64) -> i64 {
    GENESIS_UNIX.saturating_add(number.saturating_mul(BLOCK_SECONDS))
}

/// The hash of block `number`: 24 hash-derived bytes followed by the number, so that a hash can
/// be resolved back to its block.
pub fn block_hash(seed: u64, number: i64) -> String {
    let n = number as u64;
    format!(
        "0x{:016x}{:016x}{:016x}{:016x}",
        hash(&[seed, n, 1]),
        hash(&[seed, n, 2]),
        hash(&[seed, n, 3]),
        n
    )
}

/// The block number of a hash made by [`block_hash`] (any case, with or without `0x`).
pub fn block_of_hash(seed: u64, hash_text: &str) -> Option<i64> {
    let hex = hash_text.strip_prefix("0x").unwrap_or(hash_text);
    if hex.len() != 64 {
        return None;
    }
    let n = u64::from_str_radix(hex.get(48..)?, 16).ok()?;
    let number = i64::try_from(n).ok()?;
    (block_hash(seed, number)[2..].eq_ignore_ascii_case(hex)).then_some(number)
}

/// A deployment id in IPFS CIDv0 form (`Qm` + 44 base58 characters) derived from the seed.
pub fn deployment(seed: u64) -> String {
    const BASE58: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let tail: String = (0..44u64)
        .map(|i| char::from(BASE58[(hash(&[seed, 0xDE_9107, i]) % 58) as usize]))
        .collect();
    format!("Qm{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_follow_the_clock() {
        let c = Clock::new(Some(1_700_000_000), 1.0, 3600);
        assert_eq!(c.now(), 1_700_000_000);
        let head = c.head();
        assert!(block_time(head) <= 1_700_000_000 - 3600);
        assert!(block_time(head + 1) > 1_700_000_000 - 3600);
        c.set(1_700_000_120);
        assert_eq!(c.head(), head + 10);
        assert_eq!(block_at(0), 0);
    }

    #[test]
    fn hashes_resolve_to_their_block() {
        let h = block_hash(7, 21_000_000);
        assert_eq!(h.len(), 66);
        assert_eq!(block_of_hash(7, &h), Some(21_000_000));
        assert_eq!(
            block_of_hash(7, &h.to_uppercase().replace("0X", "0x")),
            Some(21_000_000)
        );
        assert_eq!(block_of_hash(8, &h), None);
        assert_eq!(block_of_hash(7, "0x1234"), None);
        assert_eq!(deployment(1).len(), 46);
        assert_ne!(deployment(1), deployment(2));
    }

    #[test]
    fn a_running_clock_moves() {
        let c = Clock::new(None, 1000.0, 0);
        let a = c.now();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(c.now() > a);
    }
}
