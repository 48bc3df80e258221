//! Numbers as clients write them in filters: any notation (`1.50`, `1.5e3`, `-0.0`), compared
//! exactly with each other and with canonical [`Decimal`]s, and rounded on input the way
//! graph-node rounds a `BigDecimal` argument.

use std::cmp::Ordering;
use std::str::FromStr;

use bigdecimal::BigDecimal;

use crate::decimal::{Decimal, SIGNIFICANT_DIGITS};

/// An exact number: `±0.d1d2d3… × 10^point`, without leading or trailing zero digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Number {
    negative: bool,
    /// ASCII digits without leading or trailing zeros; empty for zero.
    digits: Vec<u8>,
    point: i64,
}

/// Longest number a filter may carry: longer ones are refused rather than parsed slowly.
const MAX_LEN: usize = 10_000;

impl Number {
    /// Builds a number from a sign, its digits and the number of digits before the point.
    fn new(negative: bool, digits: &[u8], point: i64) -> Number {
        let lead = digits.iter().take_while(|d| **d == b'0').count();
        let digits = &digits[lead..];
        let trail = digits.iter().rev().take_while(|d| **d == b'0').count();
        let digits = &digits[..digits.len() - trail];
        let zero = digits.is_empty();
        Number {
            negative: negative && !zero,
            digits: digits.to_vec(),
            point: if zero {
                0
            } else {
                point.saturating_sub(lead as i64)
            },
        }
    }

    /// Parses plain or exponent notation (`-12.5`, `+1.5e3`); `None` if it is neither.
    pub fn parse(s: &str) -> Option<Number> {
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
        Some(Number::new(
            negative,
            &digits,
            (int.len() as i64).saturating_add(exponent),
        ))
    }

    /// A `BigDecimal` argument, refused with the `bigdecimal` crate's message (as graph-node
    /// does) when it does not parse, and rounded to 34 significant digits as graph-node rounds
    /// every BigDecimal it reads.
    pub fn big_decimal(s: &str) -> Result<Number, String> {
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
        let (digits, point) = round_like_graph_node(
            digits.as_bytes(),
            (digits.len() as i64).saturating_sub(scale),
            negative,
        );
        Ok(Number::new(negative, &digits, point))
    }

    /// A `BigInt` argument, refused with num-bigint's messages when it does not parse.
    pub fn big_int(s: &str) -> Result<Number, String> {
        let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
        if digits.is_empty() {
            return Err("cannot parse integer from empty string".to_owned());
        }
        if s.len() > MAX_LEN || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err("invalid digit found in string".to_owned());
        }
        Number::parse(s).ok_or_else(|| "invalid digit found in string".to_owned())
    }

    /// -1, 0 or 1.
    fn sign(&self) -> i8 {
        match (self.digits.is_empty(), self.negative) {
            (true, _) => 0,
            (false, true) => -1,
            (false, false) => 1,
        }
    }
}

impl From<&Decimal> for Number {
    fn from(d: &Decimal) -> Number {
        Number::parse(d.as_str()).unwrap_or_else(|| Number::new(false, b"", 0))
    }
}

impl Ord for Number {
    fn cmp(&self, other: &Number) -> Ordering {
        let (sa, sb) = (self.sign(), other.sign());
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

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Number) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Decimal {
    /// Compares this decimal with a number exactly.
    pub fn cmp_number(&self, n: &Number) -> Ordering {
        Number::from(self).cmp(n)
    }
}

/// Rounds `0.digits × 10^point` to 34 significant digits as graph-node does with every
/// BigDecimal it reads (the `bigdecimal` crate's `with_prec`): a positive value is rounded half
/// up on the first dropped digit, a negative one is cut towards zero.
fn round_like_graph_node(digits: &[u8], point: i64, negative: bool) -> (Vec<u8>, i64) {
    const KEPT: usize = SIGNIFICANT_DIGITS as usize;
    let lead = digits.iter().take_while(|d| **d == b'0').count();
    let digits = &digits[lead..];
    let point = point.saturating_sub(lead as i64);
    if digits.len() <= KEPT {
        return (digits.to_vec(), point);
    }
    let mut kept = digits[..KEPT].to_vec();
    if !negative && digits[KEPT] >= b'5' {
        for d in kept.iter_mut().rev() {
            if *d == b'9' {
                *d = b'0';
            } else {
                *d += 1;
                return (kept, point);
            }
        }
        // All nines: 0.999… becomes 0.1 × 10 (the zeros are trimmed by `Number::new`).
        kept.insert(0, b'1');
        return (kept, point.saturating_add(1));
    }
    (kept, point)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Number {
        Number::parse(s).unwrap()
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
            assert_eq!(n(a).cmp(&n(b)), want, "{a} vs {b}");
        }
        assert!(
            Number::parse("abc").is_none()
                && Number::parse("").is_none()
                && Number::parse(".").is_none()
        );
    }

    #[test]
    fn arguments_parse_like_graph_node() {
        assert_eq!(Number::big_decimal("1.50").unwrap(), n("1.5"));
        assert!(Number::big_decimal("abc").is_err());
        // Far beyond any stored value, and still compared exactly.
        let huge = Number::big_decimal("1e999999").unwrap();
        let big = Decimal::parse("340256786836388081269117234195560700000").unwrap();
        assert_eq!(big.cmp_number(&huge), Ordering::Less);
        assert_eq!(
            Number::big_int("x1").unwrap_err(),
            "invalid digit found in string"
        );
        assert_eq!(
            Number::big_int("").unwrap_err(),
            "cannot parse integer from empty string"
        );
        // 35 digits: positive values round half up, negative ones are cut.
        assert_eq!(
            Number::big_decimal("1.0000000000000000000000000000000005").unwrap(),
            n("1.000000000000000000000000000000001")
        );
        assert_eq!(
            Number::big_decimal("-1.0000000000000000000000000000000009").unwrap(),
            n("-1")
        );
    }

    #[test]
    fn decimals_compare_with_numbers() {
        let d = |s: &str| Decimal::parse(s).unwrap();
        assert_eq!(
            d("0.10000000000000000001").cmp_number(&n("0.1")),
            Ordering::Greater
        );
        assert_eq!(d("-5").cmp_number(&n("-5.0e0")), Ordering::Equal);
        assert_eq!(d("0").cmp_number(&n("-0.000")), Ordering::Equal);
        assert_eq!(d("12").cmp_number(&n("1.2e1")), Ordering::Equal);
    }
}
