//! The simulated market: each token's parameters, its hourly price walk, which hours are gaps,
//! and the events (swaps, mints, burns) inside an hour.
//!
//! Everything is a pure function of the seed, the token index and the hour, so the same hour has
//! the same events whatever the history window or the clock. The walk is anchored every
//! [`ERA_HOURS`] hours (about 1.9 years): the state of hour `h` comes from iterating the walk
//! from the start of its era, which costs at most one era of cheap steps and never depends on
//! where a window starts. The era boundary doubles as one of the walk's occasional jumps.

use super::noise::{self, hash, Stream};

/// Hours per walk era: the walk restarts from a hash-derived level at each multiple of this.
pub const ERA_HOURS: i64 = 16_384;

/// What kind of token an index stands for (index modulo 5), so that every simulator with five
/// tokens or more serves the magnitudes a client must cope with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Archetype {
    /// A USD stablecoin: price about 1, little movement, many trades, 6 decimals.
    Stable,
    /// An ETH-like major: price in the thousands, many trades.
    Major,
    /// A meme token with a tiny price (about 1e-28) and huge token amounts (1e31 and more).
    Tiny,
    /// A mid-cap token.
    Mid,
    /// A thinly traded token: few trades, long gaps.
    Thin,
}

/// What the tokens of one archetype are like.
struct Profile {
    /// Log of the USD price the walk is centred on.
    log_price: f64,
    /// Hourly volatility of the log price.
    sigma: f64,
    /// Chance of a jump in an hour, and the jump's size.
    jump_p: f64,
    jump_sigma: f64,
    events_per_hour: f64,
    /// Typical USD size of a swap.
    swap_usd: f64,
    /// Typical liquidity in USD.
    tvl_usd: f64,
    /// Chance per hour that a run of gap hours starts (runs last 5 hours on average, so the
    /// share of gap hours is `gap_enter / (gap_enter + 0.2)`: 17% to 25%, about 20% overall).
    gap_enter: f64,
    /// Share of active hours with mints and burns only (zero volume).
    quiet_share: f64,
    decimals: u32,
}

impl Archetype {
    /// The archetype's profile; `jitter` (normal) and `spread` (uniform) vary the price level.
    fn profile(self, jitter: f64, spread: f64) -> Profile {
        use std::f64::consts::LN_10;
        match self {
            Archetype::Stable => Profile {
                log_price: 0.001 * jitter,
                sigma: 0.0003,
                jump_p: 0.0005,
                jump_sigma: 0.003,
                events_per_hour: 40.0,
                swap_usd: 2e4,
                tvl_usd: 4e8,
                gap_enter: 0.04,
                quiet_share: 0.01,
                decimals: 6,
            },
            Archetype::Major => Profile {
                log_price: 3000f64.ln() + 0.3 * jitter,
                sigma: 0.006,
                jump_p: 0.002,
                jump_sigma: 0.05,
                events_per_hour: 30.0,
                swap_usd: 5e4,
                tvl_usd: 6e8,
                gap_enter: 0.045,
                quiet_share: 0.01,
                decimals: 18,
            },
            Archetype::Tiny => Profile {
                log_price: -28.0 * LN_10 + 0.5 * jitter,
                sigma: 0.02,
                jump_p: 0.004,
                jump_sigma: 0.2,
                events_per_hour: 6.0,
                swap_usd: 3e3,
                tvl_usd: 5e6,
                gap_enter: 0.05,
                quiet_share: 0.05,
                decimals: 18,
            },
            Archetype::Mid => Profile {
                log_price: (spread * 3.7 - 2.0) * LN_10,
                sigma: 0.01,
                jump_p: 0.003,
                jump_sigma: 0.1,
                events_per_hour: 10.0,
                swap_usd: 5e3,
                tvl_usd: 2e7,
                gap_enter: 0.055,
                quiet_share: 0.03,
                decimals: 18,
            },
            Archetype::Thin => Profile {
                log_price: (spread * 4.0 - 4.0) * LN_10,
                sigma: 0.015,
                jump_p: 0.005,
                jump_sigma: 0.15,
                events_per_hour: 2.0,
                swap_usd: 500.0,
                tvl_usd: 3e5,
                gap_enter: 0.065,
                quiet_share: 0.1,
                decimals: 8,
            },
        }
    }
}

/// The fixed description of one simulated token.
#[derive(Debug, Clone)]
pub struct TokenParams {
    /// Position in the simulator's token list.
    pub index: u32,
    /// Lowercase `0x` + 40 hex.
    pub address: String,
    /// `SIM<index>`.
    pub symbol: String,
    /// `Simulated Token <index>`.
    pub name: String,
    /// The ERC-20 decimals.
    pub decimals: u32,
    /// Total supply in base units (a BigInt string).
    pub total_supply: String,
    /// Number of pools holding the token.
    pub pool_count: u32,
    /// Hash key of everything random about this token.
    pub salt: u64,
    log_price0: f64,
    sigma: f64,
    jump_p: f64,
    jump_sigma: f64,
    /// Spread of the level each era starts from (in log price).
    era_sigma: f64,
    gap_enter: f64,
    gap_exit: f64,
    events_per_hour: f64,
    swap_usd: f64,
    tvl_tokens: f64,
    quiet_share: f64,
}

/// The walk's state at the start of an hour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WalkState {
    /// Natural log of the USD price.
    pub log_price: f64,
    /// False when the hour has no events (a gap).
    pub active: bool,
}

/// One event touching the token inside an hour.
#[derive(Debug, Clone, Copy)]
pub struct Event {
    /// Unix seconds.
    pub at: i64,
    /// USD price after the event.
    pub price: f64,
    /// USD volume of a swap; 0 for a mint, burn or collect.
    pub volume_usd: f64,
    /// The pool's fee rate.
    pub fee_rate: f64,
    /// Liquidity across all pools after the event, in token units.
    pub tvl_tokens: f64,
}

// Domain tags, so that different uses of the same (token, hour) draw different numbers.
const TAG_ADDRESS: u64 = 1;
const TAG_PARAMS: u64 = 2;
const TAG_ERA: u64 = 3;
const TAG_WALK: u64 = 4;
const TAG_EVENTS: u64 = 5;
const TAG_TVL: u64 = 6;
const TAG_ETH: u64 = 7;
const TAG_SUPPLY: u64 = 8;

/// The pools' fee tiers (0.05 %, 0.3 %, 1 %).
const FEE_TIERS: [f64; 3] = [0.0005, 0.003, 0.01];

/// How strongly the walk is pulled back to its era's level per hour: keeps prices plausible over
/// years without flattening them over days.
const MEAN_REVERSION: f64 = 0.0002;

impl TokenParams {
    /// The token at `index` for `seed`.
    pub fn generate(seed: u64, index: u32) -> TokenParams {
        let salt = hash(&[seed, u64::from(index)]);
        let address: String = (0..3)
            .map(|k| format!("{:016x}", hash(&[salt, TAG_ADDRESS, k])))
            .collect::<String>()
            .chars()
            .take(40)
            .collect();
        let mut r = Stream::new(hash(&[salt, TAG_PARAMS]));
        let jitter = r.normal();
        let spread = r.unit();
        let archetype = match index % 5 {
            0 => Archetype::Stable,
            1 => Archetype::Major,
            2 => Archetype::Tiny,
            3 => Archetype::Mid,
            _ => Archetype::Thin,
        };
        let k = archetype.profile(jitter, spread);
        let tvl_tokens = k.tvl_usd * (0.5 + r.unit()) / noise::exp(k.log_price);
        let total_supply = supply(salt, archetype, k.decimals);
        TokenParams {
            index,
            address: format!("0x{address}"),
            symbol: format!("SIM{index}"),
            name: format!("Simulated Token {index}"),
            decimals: k.decimals,
            total_supply,
            pool_count: 1 + (r.next_u64() % 40) as u32,
            salt,
            log_price0: k.log_price,
            sigma: k.sigma,
            jump_p: k.jump_p,
            jump_sigma: k.jump_sigma,
            era_sigma: 20.0 * k.sigma,
            gap_enter: k.gap_enter,
            gap_exit: 0.2,
            events_per_hour: k.events_per_hour * (0.7 + 0.6 * r.unit()),
            swap_usd: k.swap_usd,
            tvl_tokens,
            quiet_share: k.quiet_share,
        }
    }

    /// The walk's state at the start of `hour` (iterated from the start of its era).
    pub fn state_at(&self, hour: i64) -> WalkState {
        let era_start = hour.div_euclid(ERA_HOURS) * ERA_HOURS;
        let mut state = self.era_state(era_start);
        for h in era_start..hour {
            state = self.step(h, state);
        }
        state
    }

    /// The state at the start of `hour + 1`, given the state at the start of `hour`.
    pub fn step(&self, hour: i64, state: WalkState) -> WalkState {
        let next = hour + 1;
        if next.rem_euclid(ERA_HOURS) == 0 {
            return self.era_state(next);
        }
        let mut r = Stream::new(hash(&[self.salt, TAG_WALK, hour as u64]));
        let mut log_price = state.log_price + self.sigma * r.normal()
            - MEAN_REVERSION * (state.log_price - self.era_level(hour.div_euclid(ERA_HOURS)));
        if r.unit() < self.jump_p {
            log_price += self.jump_sigma * r.normal();
        }
        let u = r.unit();
        let active = if state.active {
            u >= self.gap_enter
        } else {
            u < self.gap_exit
        };
        WalkState { log_price, active }
    }

    fn era_level(&self, era: i64) -> f64 {
        let mut r = Stream::new(hash(&[self.salt, TAG_ERA, era as u64]));
        self.log_price0 + self.era_sigma * r.normal()
    }

    fn era_state(&self, era_start: i64) -> WalkState {
        WalkState {
            log_price: self.era_level(era_start.div_euclid(ERA_HOURS)),
            active: true,
        }
    }

    /// The events of `hour` in time order (empty for a gap hour). `start` and `end` are the walk
    /// states at the start of this hour and the next: prices drift from one to the other.
    pub fn events(&self, hour: i64, start: WalkState, end: WalkState) -> Vec<Event> {
        if !start.active {
            return Vec::new();
        }
        let mut r = Stream::new(hash(&[self.salt, TAG_EVENTS, hour as u64]));
        let count = 1 + poisson(&mut r, self.events_per_hour - 1.0);
        let quiet = r.unit() < self.quiet_share;
        let mut offsets: Vec<i64> = (0..count).map(|_| (r.unit() * 3600.0) as i64).collect();
        offsets.sort_unstable();
        let hour_start = hour * 3600;
        offsets
            .into_iter()
            .map(|offset| {
                let frac = offset as f64 / 3600.0;
                let log_price = start.log_price
                    + frac * (end.log_price - start.log_price)
                    + 0.4 * self.sigma * r.normal();
                let swap = !quiet && r.unit() < 0.85;
                let volume_usd = if swap {
                    self.swap_usd * noise::exp(0.9 * r.normal())
                } else {
                    0.0
                };
                let fee_rate = FEE_TIERS[(r.next_u64() % 3) as usize];
                let at = hour_start + offset;
                Event {
                    at,
                    price: noise::exp(log_price),
                    volume_usd,
                    fee_rate,
                    tvl_tokens: self.tvl_at(at),
                }
            })
            .collect()
    }

    /// Liquidity in token units at unix time `t`: a slow, smooth wander around the token's base.
    pub fn tvl_at(&self, t: i64) -> f64 {
        let daily = smooth(self.salt ^ TAG_TVL, t as f64 / 86_400.0);
        let monthly = smooth(self.salt ^ (TAG_TVL << 8), t as f64 / (30.0 * 86_400.0));
        self.tvl_tokens * noise::exp(0.08 * daily + 0.4 * monthly)
    }

    /// Expected trades per hour, for the token's history before the window.
    pub fn mean_events_per_hour(&self) -> f64 {
        self.events_per_hour
    }

    /// Expected USD volume per hour, for the token's history before the window.
    pub fn mean_volume_usd_per_hour(&self) -> f64 {
        self.events_per_hour * self.swap_usd * 0.85 * 1.5
    }

    /// The USD price the token's walk is centred on.
    pub fn base_price(&self) -> f64 {
        noise::exp(self.log_price0)
    }

    /// The token's base liquidity in token units (what TVL wanders around).
    pub fn base_tvl_tokens(&self) -> f64 {
        self.tvl_tokens
    }
}

/// USD price of the chain's native token at unix time `t` (for `derivedETH`).
pub fn eth_usd(seed: u64, t: i64) -> f64 {
    3000.0 * noise::exp(0.3 * smooth(hash(&[seed, TAG_ETH]), t as f64 / (7.0 * 86_400.0)))
}

/// Value noise: a smooth function of `x` with values in about [-1, 1], linear between the
/// integers, each integer's value drawn from the hash.
fn smooth(key: u64, x: f64) -> f64 {
    let cell = x.floor();
    let frac = x - cell;
    let at = |c: f64| 2.0 * noise::unit(hash(&[key, c as i64 as u64])) - 1.0;
    let (a, b) = (at(cell), at(cell + 1.0));
    a + (b - a) * frac
}

/// A Poisson draw (Knuth's product of uniforms; `mean` is at most a few dozen here).
fn poisson(r: &mut Stream, mean: f64) -> usize {
    if mean <= 0.0 {
        return 0;
    }
    let limit = noise::exp(-mean);
    let mut product = r.unit();
    let mut k = 0;
    while product > limit && k < 1000 {
        product *= r.unit();
        k += 1;
    }
    k
}

/// A total supply in base units: a whole number of tokens followed by `decimals` digits.
fn supply(salt: u64, archetype: Archetype, decimals: u32) -> String {
    let mut r = Stream::new(hash(&[salt, TAG_SUPPLY]));
    let whole: u64 = match archetype {
        Archetype::Tiny => 100_000_000_000_000 + r.next_u64() % 900_000_000_000_000,
        _ => 10_000_000 + r.next_u64() % 90_000_000_000,
    };
    let fraction: String = (0..decimals)
        .map(|_| char::from(b'0' + (r.next_u64() % 10) as u8))
        .collect();
    format!("{whole}{fraction}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_walk_does_not_depend_on_where_it_starts() {
        let p = TokenParams::generate(1, 1);
        let start = 480_000;
        let direct = p.state_at(start + 500);
        let mut s = p.state_at(start);
        for h in start..start + 500 {
            s = p.step(h, s);
        }
        assert_eq!(direct, s);
        // Across an era boundary too.
        let boundary = (start / ERA_HOURS + 1) * ERA_HOURS;
        let mut s = p.state_at(boundary - 3);
        for h in boundary - 3..boundary + 3 {
            s = p.step(h, s);
        }
        assert_eq!(p.state_at(boundary + 3), s);
    }

    #[test]
    fn tokens_differ_and_addresses_are_hex() {
        let a = TokenParams::generate(1, 0);
        let b = TokenParams::generate(1, 1);
        let c = TokenParams::generate(2, 0);
        assert_ne!(a.address, b.address);
        assert_ne!(a.address, c.address);
        for t in [&a, &b, &c] {
            assert_eq!(t.address.len(), 42);
            assert!(t.address[2..]
                .bytes()
                .all(|x| x.is_ascii_hexdigit() && !x.is_ascii_uppercase()));
        }
        assert_eq!(a.decimals, 6);
        assert!(a.total_supply.len() > 6 && !a.total_supply.starts_with('0'));
    }

    #[test]
    fn events_are_ordered_inside_their_hour() {
        let p = TokenParams::generate(3, 0);
        let h = 480_123;
        let (s0, s1) = (p.state_at(h), p.state_at(h + 1));
        let s0 = WalkState { active: true, ..s0 };
        let ev = p.events(h, s0, s1);
        assert!(!ev.is_empty());
        assert!(ev.windows(2).all(|w| w[0].at <= w[1].at));
        assert!(ev.iter().all(|e| e.at >= h * 3600 && e.at < (h + 1) * 3600));
        assert!(ev.iter().all(|e| e.price > 0.0 && e.volume_usd >= 0.0));
    }
}
