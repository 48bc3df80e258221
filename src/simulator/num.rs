//! Exact comparison of decimals (BigDecimal and BigInt values compare as numbers, not text).
//!
//! Comparisons first look at the values' nearest `f64`s: rounding is monotonic, so when those
//! differ the exact values differ the same way. Only equal `f64`s, which are rare, need the exact
//! comparison of digits.

use std::cmp::Ordering;
use std::str::FromStr;

use bigdecimal::BigDecimal;

use super::rows::Dec;

/// An exact decimal: `±0.d1d2d3… × 10^point`.
#[derive(Debug, Clone, PartialEq)]
pub struct Num {
    negative: bool,
    /// ASCII digits without leading or trailing zeros; empty for zero.
    digits: Vec<u8>,
    point: i64,
    /// The value rounded to the nearest `f64`.
    pub approx: f64,
}

/// Longest decimal a filter may carry: longer ones are refused rather than parsed slowly.
const MAX_LEN: usize = 10_000;

impl Num {
    /// Builds a number from a sign, its digits and the number of digits before the point.
    fn new(negative: bool, digits: &[u8], point: i64) -> Num {
        let lead = digits.iter().take_while(|d| **d == b'0').count();
        let digits = &digits[lead..];
        let digits =
            &digits[..digits.len() - digits.iter().rev().take_while(|d| **d == b'0').count()];
        let point = point.saturating_sub(lead as i64);
        let zero = digits.is_empty();
        let approx = format!(
            "{}0.{}e{}",
            if negative && !zero { "-" } else { "" },
            if zero {
                "0"
            } else {
                std::str::from_utf8(digits).unwrap_or("0")
            },
            point.clamp(-100_000, 100_000)
        )
        .parse()
        .unwrap_or(0.0);
        Num {
            negative: negative && !zero,
            digits: digits.to_vec(),
            point: if zero { 0 } else { point },
            approx,
        }
    }

    /// Parses plain or exponent notation (`-12.5`, `1.5e3`); `None` if it is neither.
    pub fn parse(s: &str) -> Option<Num> {
        let (negative, rest) = match s.as_bytes().first()? {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let (mantissa, exponent) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], rest[i + 1..].parse::<i64>().ok()?),
            None => (rest, 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let digits: Vec<u8> = int.bytes().chain(frac.bytes()).collect();
        Some(Num::new(
            negative,
            &digits,
            (int.len() as i64).saturating_add(exponent),
        ))
    }

    /// A `BigDecimal` filter value, refused with the `bigdecimal` crate's message (as graph-node
    /// does) when it does not parse.
    pub fn big_decimal(s: &str) -> Result<Num, String> {
        if s.len() > MAX_LEN {
            return Err("number too long".to_owned());
        }
        let big = BigDecimal::from_str(s).map_err(|e| e.to_string())?;
        let (int, scale) = big.as_bigint_and_exponent();
        let text = int.to_string();
        let (negative, digits) = match text.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, text.as_str()),
        };
        let (digits, point) = round_significant(
            digits.as_bytes(),
            (digits.len() as i64).saturating_sub(scale),
            negative,
        );
        Ok(Num::new(negative, &digits, point))
    }

    /// A `BigInt` filter value, refused with num-bigint's messages when it does not parse.
    pub fn big_int(s: &str) -> Result<Num, String> {
        let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
        if digits.is_empty() {
            return Err("cannot parse integer from empty string".to_owned());
        }
        if s.len() > MAX_LEN || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err("invalid digit found in string".to_owned());
        }
        Num::parse(s).ok_or_else(|| "invalid digit found in string".to_owned())
    }

    /// Compares the exact values.
    pub fn cmp_exact(&self, other: &Num) -> Ordering {
        let sign = |n: &Num| match (n.digits.is_empty(), n.negative) {
            (true, _) => 0,
            (false, true) => -1,
            (false, false) => 1,
        };
        let (sa, sb) = (sign(self), sign(other));
        if sa != sb || sa == 0 {
            return sa.cmp(&sb);
        }
        let magnitude = self
            .point
            .cmp(&other.point)
            .then_with(|| self.digits.cmp(&other.digits));
        if sa < 0 {
            magnitude.reverse()
        } else {
            magnitude
        }
    }
}

/// Significant digits graph-node keeps of a BigDecimal.
const SIGNIFICANT: usize = 34;

/// Rounds `0.digits × 10^point` to 34 significant digits as graph-node does with every
/// BigDecimal it reads (the `bigdecimal` crate's `with_prec`): a positive value is rounded half
/// up on the first dropped digit, a negative one is cut towards zero.
fn round_significant(digits: &[u8], point: i64, negative: bool) -> (Vec<u8>, i64) {
    let lead = digits.iter().take_while(|d| **d == b'0').count();
    let digits = &digits[lead..];
    let point = point.saturating_sub(lead as i64);
    if digits.len() <= SIGNIFICANT {
        return (digits.to_vec(), point);
    }
    let mut kept = digits[..SIGNIFICANT].to_vec();
    if !negative && digits[SIGNIFICANT] >= b'5' {
        for d in kept.iter_mut().rev() {
            if *d == b'9' {
                *d = b'0';
            } else {
                *d += 1;
                return (kept, point);
            }
        }
        // All nines: 0.999… becomes 0.1 × 10 (the zeros are trimmed by `Num::new`).
        kept.insert(0, b'1');
        return (kept, point.saturating_add(1));
    }
    (kept, point)
}

/// Compares a served decimal with a filter value.
pub fn cmp_dec(a: &Dec, b: &Num) -> Ordering {
    match a.approx.partial_cmp(&b.approx) {
        Some(Ordering::Equal) | None => Num::parse(&a.text)
            .map(|x| x.cmp_exact(b))
            .unwrap_or(Ordering::Equal),
        Some(o) => o,
    }
}

/// Compares two served decimals.
pub fn cmp_decs(a: &Dec, b: &Dec) -> Ordering {
    match a.approx.partial_cmp(&b.approx) {
        Some(Ordering::Equal) | None if a.text != b.text => {
            match (Num::parse(&a.text), Num::parse(&b.text)) {
                (Some(x), Some(y)) => x.cmp_exact(&y),
                _ => a.text.cmp(&b.text),
            }
        }
        Some(o) => o,
        None => Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Num {
        Num::parse(s).unwrap()
    }

    #[test]
    fn compares_exactly() {
        use Ordering::*;
        let cases = [
            ("1.5", "1.50", Equal),
            ("0", "-0.0", Equal),
            ("9", "10", Less),
            ("-2", "-10", Greater),
            ("0.0001", "0.00009", Greater),
            ("1e3", "1000", Equal),
            (
                "1234567890123456789012345678901234.5",
                "1234567890123456789012345678901234.4",
                Greater,
            ),
            ("0.000000000000000000000000001", "0", Greater),
        ];
        for (a, b, want) in cases {
            assert_eq!(n(a).cmp_exact(&n(b)), want, "{a} vs {b}");
        }
        assert!(
            Num::parse("abc").is_none() && Num::parse("").is_none() && Num::parse(".").is_none()
        );
    }

    #[test]
    fn filter_values_parse_like_graph_node() {
        assert_eq!(
            Num::big_decimal("1.50").unwrap().cmp_exact(&n("1.5")),
            Ordering::Equal
        );
        assert!(Num::big_decimal("abc").is_err());
        assert!(Num::big_decimal("1e999999").unwrap().approx.is_infinite());
        assert_eq!(
            Num::big_int("x1").unwrap_err(),
            "invalid digit found in string"
        );
        assert_eq!(
            Num::big_int("").unwrap_err(),
            "cannot parse integer from empty string"
        );
        // Values that are equal as f64 still compare exactly.
        let a = Dec {
            text: "0.10000000000000000001".into(),
            approx: 0.1,
        };
        assert_eq!(cmp_dec(&a, &n("0.1")), Ordering::Greater);
        let b = Dec {
            text: "0.1".into(),
            approx: 0.1,
        };
        assert_eq!(cmp_decs(&a, &b), Ordering::Greater);
    }
}
