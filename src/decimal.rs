//! Exact decimals as The Graph writes them.
//!
//! Upstream `BigDecimal` and `BigInt` values are strings in plain notation; the mirror stores and
//! returns those strings byte for byte. [`Decimal`] is that string, checked to be in the one
//! canonical form graph-node writes (no exponent, no leading `+`, no superfluous zeros), so that
//! PostgreSQL's `NUMERIC` gives back exactly what went in and numeric equality is text equality.
//! Arithmetic (sums, comparisons, rounding) happens in Rust on [`BigDecimal`], never in f64.

use std::cmp::Ordering;
use std::fmt;
use std::num::NonZeroU64;
use std::str::FromStr;

use bigdecimal::{BigDecimal, RoundingMode};

/// Significant digits graph-node keeps for a `BigDecimal` (IEEE 754 decimal128).
pub const SIGNIFICANT_DIGITS: u64 = 34;

/// An exact decimal (or integer) in canonical plain notation, e.g. `"0.0000057"`, `"-12.5"`,
/// `"340256786836388081269117234195560700000"`, `"0"`.
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Decimal(String);

/// Why a string is not a canonical decimal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a decimal in plain notation: {reason}")]
pub struct DecimalError {
    /// The offending value (cut to 80 characters).
    pub value: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl Decimal {
    /// Checks that `s` is a canonical decimal: `-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?`, not `-0`.
    pub fn parse(s: &str) -> Result<Decimal, DecimalError> {
        check(s, true).map(|()| Decimal(s.to_owned()))
    }

    /// Like [`Decimal::parse`] but refuses a fractional part (for upstream `BigInt`).
    pub fn parse_integer(s: &str) -> Result<Decimal, DecimalError> {
        check(s, false).map(|()| Decimal(s.to_owned()))
    }

    /// Zero, written `"0"`.
    pub fn zero() -> Decimal {
        Decimal("0".to_owned())
    }

    /// The exact string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The value for arithmetic.
    pub fn to_big(&self) -> BigDecimal {
        // A checked canonical string always parses.
        BigDecimal::from_str(&self.0).unwrap_or_default()
    }

    /// Compares two decimals as numbers (not as text).
    pub fn cmp_numeric(&self, other: &Decimal) -> Ordering {
        if self.0 == other.0 {
            return Ordering::Equal;
        }
        self.to_big().cmp(&other.to_big())
    }

    /// The exact sum of `values`, rounded once to 34 significant digits, half to even.
    pub fn sum<'a>(values: impl IntoIterator<Item = &'a Decimal>) -> Decimal {
        let mut total = BigDecimal::default();
        let mut count = 0usize;
        let mut only: Option<&Decimal> = None;
        for v in values {
            count += 1;
            only = Some(v);
            total += v.to_big();
        }
        match (count, only) {
            // One addend: its own string is already the exact, rounded answer.
            (1, Some(v)) => v.clone(),
            _ => Decimal::from_big(&total),
        }
    }

    /// Rounds `value` to 34 significant digits (half to even) and writes it canonically.
    pub fn from_big(value: &BigDecimal) -> Decimal {
        let digits = NonZeroU64::new(SIGNIFICANT_DIGITS).unwrap_or(NonZeroU64::MIN);
        let rounded = if value.digits() > SIGNIFICANT_DIGITS {
            value.with_precision_round(digits, RoundingMode::HalfEven)
        } else {
            value.clone()
        };
        let normalized = rounded.normalized();
        let text = normalized.to_plain_string();
        // `normalized` of zero may keep a sign or a scale; zero is always "0".
        if normalized == BigDecimal::default() {
            return Decimal::zero();
        }
        Decimal(text)
    }
}

fn check(s: &str, fraction_allowed: bool) -> Result<(), DecimalError> {
    let fail = |reason| {
        Err(DecimalError {
            value: s.chars().take(80).collect(),
            reason,
        })
    };
    let unsigned = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = match unsigned.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (unsigned, None),
    };
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return fail("expected digits before any decimal point");
    }
    if int.len() > 1 && int.starts_with('0') {
        return fail("leading zeros");
    }
    if let Some(frac) = frac {
        if !fraction_allowed {
            return fail("an integer has no fractional part");
        }
        if frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return fail("expected digits after the decimal point");
        }
        if frac.ends_with('0') {
            return fail("trailing zeros after the decimal point");
        }
    }
    if s.starts_with('-') && int == "0" && frac.is_none() {
        return fail("negative zero");
    }
    Ok(())
}

impl FromStr for Decimal {
    type Err = DecimalError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Decimal::parse(s)
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl From<Decimal> for String {
    fn from(d: Decimal) -> String {
        d.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::parse(s).unwrap()
    }

    #[test]
    fn accepts_what_graph_node_writes() {
        for s in [
            "0",
            "-1",
            "0.000000005700524134942485348744488352915677",
            "58338.53440207575247331913887502708",
            "340256786836388081269117234195560700000",
            "-0.5",
        ] {
            assert_eq!(d(s).as_str(), s);
        }
    }

    #[test]
    fn refuses_other_notations() {
        for s in [
            "", "-", "1e5", "1.50", "01", "+1", ".5", "5.", "-0", "1,5", " 1", "NaN", "0x10",
        ] {
            assert!(Decimal::parse(s).is_err(), "{s:?} was accepted");
        }
        assert!(Decimal::parse_integer("1.5").is_err());
        assert_eq!(Decimal::parse_integer("1000").unwrap().as_str(), "1000");
    }

    #[test]
    fn sums_round_once_half_to_even() {
        assert_eq!(Decimal::sum([&d("0.1"), &d("0.2")]).as_str(), "0.3");
        assert_eq!(Decimal::sum([&d("1.5"), &d("-1.5")]).as_str(), "0");
        assert_eq!(Decimal::sum(std::iter::empty()).as_str(), "0");
        // 35 significant digits ending in 5 round to the even neighbour.
        let a = d("1000000000000000000000000000000000");
        assert_eq!(
            Decimal::sum([&a, &d("0.5")]).as_str(),
            "1000000000000000000000000000000000"
        );
        assert_eq!(
            Decimal::sum([&a, &d("1.5")]).as_str(),
            "1000000000000000000000000000000002"
        );
        assert_eq!(
            Decimal::sum([&d("340256786836388081269117234195560700000"), &d("1")]).as_str(),
            "340256786836388081269117234195560700000"
        );
        assert_eq!(
            Decimal::sum([&d("0.00000001"), &d("0.00000002")]).as_str(),
            "0.00000003"
        );
    }

    #[test]
    fn compares_as_numbers() {
        assert_eq!(d("9").cmp_numeric(&d("10")), Ordering::Less);
        assert_eq!(d("-2").cmp_numeric(&d("-10")), Ordering::Greater);
        assert_eq!(d("0.0001").cmp_numeric(&d("0.00009")), Ordering::Greater);
    }
}
