//! Deterministic randomness: hash-derived numbers that depend only on their inputs.
//!
//! The simulated data must be byte-identical for the same seed on every machine and with every
//! crate version, so nothing here uses `rand` or the platform's libm: values come from
//! splitmix64 over the inputs, and `exp` is computed with IEEE-754 `+ - * /` only (which every
//! platform rounds the same way).

/// One round of splitmix64: a cheap, well-mixed 64-bit hash.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hashes a sequence of words; the order of the words matters.
pub fn hash(parts: &[u64]) -> u64 {
    parts.iter().fold(0x005E_ED0F_70CE_u64, |acc, &p| {
        splitmix64(acc ^ splitmix64(p))
    })
}

/// A uniform number in `[0, 1)` from a hash.
pub fn unit(h: u64) -> f64 {
    // 53 random bits: every value is exactly representable.
    (h >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A small deterministic stream of numbers (splitmix64 over a counter).
#[derive(Debug, Clone)]
pub struct Stream(u64);

impl Stream {
    /// A stream keyed by `key` (usually a [`hash`] of what it is for).
    pub fn new(key: u64) -> Stream {
        Stream(key)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        splitmix64(self.0)
    }

    /// A uniform number in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        unit(self.next_u64())
    }

    /// An approximately standard normal number (Irwin–Hall with four terms, bounded by ±3.5):
    /// enough for a price walk, and cheap.
    pub fn normal(&mut self) -> f64 {
        let sum = self.unit() + self.unit() + self.unit() + self.unit();
        (sum - 2.0) * 1.732_050_807_568_877_2
    }
}

// ln 2 split in two (fdlibm's constants): `k * LN2_HI` is exact for the k used here.
const LN2_HI: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000);
const LN2_LO: f64 = f64::from_bits(0x3DEA_39EF_3579_3C76);

/// `e^x`, computed the same way on every platform (range reduction and a Taylor polynomial).
/// Relative error is a few ulps, which does not matter here; reproducibility does.
pub fn exp(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x > 709.0 {
        return f64::INFINITY;
    }
    if x < -745.0 {
        return 0.0;
    }
    let k = (x / std::f64::consts::LN_2).round();
    let r = x - k * LN2_HI - k * LN2_LO;
    let mut term = 1.0;
    let mut sum = 1.0;
    for i in 1..=14 {
        term *= r / f64::from(i);
        sum += term;
    }
    scale_by_pow2(sum, k as i32)
}

/// `v * 2^k` without `powi` (whose result is not specified bit for bit).
fn scale_by_pow2(v: f64, k: i32) -> f64 {
    let pow2 = |e: i32| f64::from_bits(((e + 1023) as u64) << 52);
    if (-1022..=1023).contains(&k) {
        v * pow2(k)
    } else {
        let half = k / 2;
        v * pow2(half.clamp(-1022, 1023)) * pow2((k - half).clamp(-1022, 1023))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_accurate_enough() {
        for x in [-50.0, -10.0, -1.0, -0.3, 0.0, 0.5, 1.0, 3.7, 20.0, 300.0] {
            let ours = exp(x);
            let std = f64::exp(x);
            assert!(((ours - std) / std).abs() < 1e-14, "{x}: {ours} vs {std}");
        }
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-1000.0), 0.0);
        assert!(exp(1000.0).is_infinite());
    }

    #[test]
    fn streams_are_reproducible_and_spread() {
        let a: Vec<u64> = (0..5)
            .map(|_| 0)
            .scan(Stream::new(7), |s, _| Some(s.next_u64()))
            .collect();
        let b: Vec<u64> = (0..5)
            .map(|_| 0)
            .scan(Stream::new(7), |s, _| Some(s.next_u64()))
            .collect();
        assert_eq!(a, b);
        let mut s = Stream::new(hash(&[1, 2, 3]));
        let mean: f64 = (0..10_000).map(|_| s.normal()).sum::<f64>() / 10_000.0;
        assert!(mean.abs() < 0.05, "{mean}");
        assert_ne!(hash(&[1, 2]), hash(&[2, 1]));
    }
}
