//! The simulated upstream's flags (`tokenmirror simulate`, and the part of `demo` that starts
//! it), turned into the simulator crate's [`SimConfig`].

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use tokenmirror_simulator::{SimConfig, GENESIS_UNIX};

use super::values::{parse_duration, parse_listen};

/// `tokenmirror simulate`: the offline Uniswap v3 subgraph.
#[derive(Debug, Clone, Args)]
pub struct SimulateArgs {
    /// Address to listen on; the subgraph answers at `/` and `/graphql`.
    #[arg(long, env = "SIM_LISTEN", default_value = "127.0.0.1:8001", value_parser = parse_listen)]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub sim: SimArgs,
}

/// What the simulated upstream serves and how it misbehaves.
#[derive(Debug, Clone, Args)]
pub struct SimArgs {
    /// Seed: the same seed, token count, history and clock give byte-identical answers.
    #[arg(long, env = "SIM_SEED", default_value_t = 1)]
    pub seed: u64,
    /// Number of simulated tokens.
    #[arg(long, env = "SIM_TOKENS", default_value_t = 5, value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub tokens: u32,
    /// Hourly rows exist for hours starting in [now - HISTORY, now], gaps aside.
    #[arg(long, env = "SIM_HISTORY", default_value = "400d", value_parser = parse_duration)]
    pub history: Duration,
    /// Freeze the clock at this unix time (the data is then static).
    #[arg(long, env = "SIM_NOW", value_parser = parse_sim_now)]
    pub now: Option<i64>,
    /// Run the clock this many times faster than the wall clock.
    #[arg(long, env = "SIM_SPEED", default_value_t = 1.0, value_parser = parse_speed)]
    pub speed: f64,
    /// Share of requests (0..1) that fail: 5xx, 429, rate-limit and bad-indexer errors, dropped
    /// connections, malformed JSON.
    #[arg(long, env = "SIM_FAIL_RATE", default_value_t = 0.0, value_parser = parse_rate)]
    pub fail_rate: f64,
    /// Delay before every answer.
    #[arg(long, env = "SIM_LATENCY", default_value = "0s", value_parser = parse_duration)]
    pub latency: Duration,
    /// How far `_meta` and the served data trail the clock (indexing lag).
    #[arg(long, env = "SIM_LAG", default_value = "0s", value_parser = parse_duration)]
    pub lag: Duration,
    /// Largest `skip` accepted (the hosted service allowed 5000).
    #[arg(long, env = "SIM_MAX_SKIP", default_value_t = 5000)]
    pub max_skip: u64,
    /// Serve malformed hourly rows for the token with this index (tests the sync's permanent
    /// error path).
    #[arg(long, env = "SIM_CORRUPT_TOKEN")]
    pub corrupt_token: Option<u32>,
}

impl From<&SimArgs> for SimConfig {
    fn from(a: &SimArgs) -> SimConfig {
        SimConfig {
            seed: a.seed,
            tokens: a.tokens,
            history: a.history,
            now: a.now,
            speed: a.speed,
            fail_rate: a.fail_rate,
            latency: a.latency,
            lag: a.lag,
            max_skip: a.max_skip,
            corrupt_token: a.corrupt_token,
        }
    }
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("{s:?} is not a rate between 0 and 1")),
    }
}

/// `--now`: a unix time on the simulated chain, which starts at Ethereum's genesis block
/// (2015-07-30T15:26:13Z), and before the year 10000.
fn parse_sim_now(s: &str) -> Result<i64, String> {
    const LAST: i64 = 253_402_300_799;
    match s.parse::<i64>() {
        Ok(t) if (GENESIS_UNIX..=LAST).contains(&t) => Ok(t),
        _ => Err(format!(
            "{s:?} is not a time on the simulated chain: write unix seconds from {GENESIS_UNIX} \
             (2015-07-30, its genesis block) to {LAST}"
        )),
    }
}

fn parse_speed(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(k) if k.is_finite() && k > 0.0 && k <= 1e6 => Ok(k),
        _ => Err(format!(
            "{s:?} is not a speed: expected a number above 0 (e.g. 1, 60)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::config::{Cli, Command};

    #[test]
    fn the_flags_defaults_are_the_simulators() {
        let cli = Cli::try_parse_from(["tokenmirror", "simulate"]).unwrap();
        let Command::Simulate(args) = cli.command else {
            panic!("not simulate")
        };
        let (a, b) = (SimConfig::from(&args.sim), SimConfig::default());
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
    }

    #[test]
    fn the_simulated_clock_starts_at_genesis() {
        let parse = |now: &str| {
            Cli::try_parse_from([
                "tokenmirror".to_owned(),
                "simulate".to_owned(),
                format!("--now={now}"),
            ])
        };
        assert!(parse("1600000000").is_ok());
        assert!(parse("1438269973").is_ok());
        for bad in ["1438269972", "0", "-5", "253402300800", "soon"] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(e.contains("genesis"), "{bad}: {e}");
        }
        assert!(Cli::try_parse_from(["tokenmirror", "simulate", "--tokens", "10001"]).is_err());
    }
}
