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

    /// Compares two decimals as numbers (not as text). Canonical strings compare without
    /// parsing: by sign, then the integer part's length and digits, then the fraction's digits.
    pub fn cmp_numeric(&self, other: &Decimal) -> Ordering {
        let (a_neg, a) = split_sign(&self.0);
        let (b_neg, b) = split_sign(&other.0);
        match (a_neg, b_neg) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => cmp_magnitude(a, b),
            (true, true) => cmp_magnitude(b, a),
        }
    }

    /// Significant digits (leading zeros, sign and point aside).
    pub fn significant_digits(&self) -> usize {
        self.0
            .bytes()
            .filter(u8::is_ascii_digit)
            .skip_while(|b| *b == b'0')
            .count()
    }

    /// The exact sum of `values`, rounded once to 34 significant digits, half to even.
    pub fn sum<'a>(values: impl IntoIterator<Item = &'a Decimal> + Clone) -> Decimal {
        let mut iter = values.clone().into_iter();
        if let (Some(only), None) = (iter.next(), iter.next()) {
            // One addend that needs no rounding: its own string is the answer.
            if only.significant_digits() <= SIGNIFICANT_DIGITS as usize {
                return only.clone();
            }
        }
        // Most sums fit a 128-bit integer at a common scale; the rest take the slow, general path.
        match fixed::sum(values.clone().into_iter().map(Decimal::as_str), true) {
            Some(d) => d,
            None => {
                let total: BigDecimal = values.into_iter().map(Decimal::to_big).sum();
                Decimal::from_big(&total)
            }
        }
    }

    /// The exact sum of `values`, not rounded (it may have more than 34 significant digits): what
    /// a rollup keeps, so that a sum built from partial sums is still rounded only once.
    pub fn exact_sum<'a>(values: impl IntoIterator<Item = &'a Decimal> + Clone) -> Decimal {
        match fixed::sum(values.clone().into_iter().map(Decimal::as_str), false) {
            Some(d) => d,
            None => {
                let total: BigDecimal = values.into_iter().map(Decimal::to_big).sum();
                Decimal::from_big_exact(&total)
            }
        }
    }

    /// `value` written canonically, every digit kept.
    fn from_big_exact(value: &BigDecimal) -> Decimal {
        let normalized = value.normalized();
        if normalized == BigDecimal::default() {
            return Decimal::zero();
        }
        Decimal(normalized.to_plain_string())
    }

    /// A value read back from the mirror's own storage, which only ever holds canonical
    /// strings: not checked again (the reads of the API's hot path).
    pub fn from_stored(s: String) -> Decimal {
        debug_assert!(check(&s, true).is_ok(), "{s:?} is not canonical");
        Decimal(s)
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

fn split_sign(s: &str) -> (bool, &str) {
    match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    }
}

/// Compares two unsigned canonical decimals.
fn cmp_magnitude(a: &str, b: &str) -> Ordering {
    let (a_int, a_frac) = a.split_once('.').unwrap_or((a, ""));
    let (b_int, b_frac) = b.split_once('.').unwrap_or((b, ""));
    a_int
        .len()
        .cmp(&b_int.len())
        .then_with(|| a_int.cmp(b_int))
        // No trailing zeros: a fraction that is a prefix of the other is the smaller one.
        .then_with(|| a_frac.cmp(b_frac))
}

/// Sums in 128-bit fixed point: `value = mantissa / 10^scale`, exact while it fits.
mod fixed {
    use super::{Decimal, SIGNIFICANT_DIGITS};

    /// At most 38 digits fit an `i128` whatever they are.
    const MAX_DIGITS: usize = 38;

    fn pow10(n: u32) -> Option<i128> {
        10i128.checked_pow(n)
    }

    fn parse(s: &str) -> Option<(i128, u32)> {
        let (neg, body) = super::split_sign(s);
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        if int.len() + frac.len() > MAX_DIGITS {
            return None;
        }
        let mut m: i128 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            m = m * 10 + i128::from(b - b'0');
        }
        Some((if neg { -m } else { m }, frac.len() as u32))
    }

    /// The exact sum, rounded and written like [`Decimal::from_big`] (`round`) or written
    /// whole; `None` when it does not fit.
    pub(super) fn sum<'a>(values: impl Iterator<Item = &'a str>, round: bool) -> Option<Decimal> {
        let (mut total, mut scale) = (0i128, 0u32);
        for v in values {
            let (m, s) = parse(v)?;
            if s > scale {
                total = total.checked_mul(pow10(s - scale)?)?;
                scale = s;
            }
            total = total.checked_add(m.checked_mul(pow10(scale - s)?)?)?;
        }
        Some(format(total, i64::from(scale), round))
    }

    /// Rounds to 34 significant digits, half to even (when `round`), and writes plain notation
    /// without trailing zeros after the point.
    fn format(value: i128, scale: i64, round: bool) -> Decimal {
        if value == 0 {
            return Decimal::zero();
        }
        let neg = value < 0;
        let mut m = value.unsigned_abs();
        let mut scale = scale;
        let digits = m.ilog10() + 1;
        if round && u64::from(digits) > SIGNIFICANT_DIGITS {
            let drop = digits - SIGNIFICANT_DIGITS as u32;
            let divisor = 10u128.pow(drop);
            let (q, r) = (m / divisor, m % divisor);
            let half = divisor / 2;
            m = if r > half || (r == half && q % 2 == 1) {
                q + 1
            } else {
                q
            };
            scale -= i64::from(drop);
        }
        while scale > 0 && m.is_multiple_of(10) {
            m /= 10;
            scale -= 1;
        }
        let mut text = m.to_string();
        if scale <= 0 {
            text.extend(std::iter::repeat_n('0', scale.unsigned_abs() as usize));
        } else {
            let scale = scale as usize;
            if text.len() <= scale {
                text = format!("0.{}{text}", "0".repeat(scale - text.len()));
            } else {
                text.insert(text.len() - scale, '.');
            }
        }
        if neg {
            text.insert(0, '-');
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
    if s.contains(['e', 'E']) {
        return fail("exponent notation (plain notation has no e)");
    }
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
        // The reason names what is wrong.
        let e = Decimal::parse("4.024933093477947e-29").unwrap_err();
        assert!(e.to_string().contains("exponent"), "{e}");
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

    /// The fast fixed-point path and the general big-decimal path agree, string for string.
    #[test]
    fn fast_sums_equal_big_decimal_sums() {
        let mut seed = 42u64;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            seed >> 33
        };
        let mut checked = 0;
        for _ in 0..3000 {
            let n = 1 + next() % 30;
            let mut values = Vec::new();
            for _ in 0..n {
                let int_digits = next() % 20;
                let frac_digits = next() % 22;
                let mut s = String::new();
                if next() % 5 == 0 {
                    s.push('-');
                }
                if int_digits == 0 {
                    s.push('0');
                } else {
                    s.push(char::from(b'1' + (next() % 9) as u8));
                    for _ in 1..int_digits {
                        s.push(char::from(b'0' + (next() % 10) as u8));
                    }
                }
                if frac_digits > 0 {
                    s.push('.');
                    for _ in 1..frac_digits {
                        s.push(char::from(b'0' + (next() % 10) as u8));
                    }
                    s.push(char::from(b'1' + (next() % 9) as u8));
                }
                if s == "-0" {
                    s = "0".into();
                }
                values.push(d(&s));
            }
            let strs = values.iter().map(Decimal::as_str);
            if let Some(fast) = fixed::sum(strs, true) {
                let total: BigDecimal = values.iter().map(Decimal::to_big).sum();
                assert_eq!(fast, Decimal::from_big(&total), "{values:?}");
                checked += 1;
            }
        }
        assert!(checked > 1000, "the fast path covered only {checked} sums");
    }

    #[test]
    fn exact_sums_keep_every_digit() {
        let a = d("1000000000000000000000000000000000");
        let s = Decimal::exact_sum([&a, &d("0.5")]);
        assert_eq!(s.as_str(), "1000000000000000000000000000000000.5");
        // Rounded once, later: the same as summing everything at once.
        assert_eq!(
            Decimal::sum([&s, &d("1")]),
            Decimal::sum([&a, &d("0.5"), &d("1")])
        );
        let big = d("340256786836388081269117234195560700000");
        assert_eq!(
            Decimal::exact_sum([&big, &big, &d("0.000000000000000001")]).as_str(),
            "680513573672776162538234468391121400000.000000000000000001"
        );
        assert_eq!(Decimal::exact_sum([&d("1.5"), &d("-1.5")]).as_str(), "0");
    }

    #[test]
    fn compares_as_numbers() {
        assert_eq!(d("9").cmp_numeric(&d("10")), Ordering::Less);
        assert_eq!(d("-2").cmp_numeric(&d("-10")), Ordering::Greater);
        assert_eq!(d("0.0001").cmp_numeric(&d("0.00009")), Ordering::Greater);
        let sorted = [
            "-100", "-9.5", "-9.49", "-0.5", "0", "0.000001", "0.5", "0.50001", "1", "9.99", "10",
            "100.1",
        ];
        for (i, a) in sorted.iter().enumerate() {
            for (j, b) in sorted.iter().enumerate() {
                assert_eq!(d(a).cmp_numeric(&d(b)), i.cmp(&j), "{a} vs {b}");
                assert_eq!(d(a).cmp_numeric(&d(b)), d(a).to_big().cmp(&d(b).to_big()));
            }
        }
    }
}
