//! Filter operators: graph-node's key suffixes (`_gt`, `_not_in`, `_contains_nocase`, …), the
//! test each builds, and SQL's treatment of null (`x: null` matches nothing, `x_not: null`
//! everything).

use std::cmp::Ordering;

use super::error::QueryError;
use super::value::V;

/// A comparison with one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Not,
    Gt,
    Lt,
    Gte,
    Lte,
}

/// A text operator of String (and `contains` of Bytes) filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextOp {
    Contains,
    StartsWith,
    EndsWith,
}

/// The operator a filter key's suffix names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Cmp(CmpOp),
    In {
        negated: bool,
    },
    Text {
        op: TextOp,
        nocase: bool,
        negated: bool,
    },
}

/// Longest first, so that `_not_in` is not read as `_in`.
const SUFFIXES: [(&str, Op); 19] = {
    use CmpOp::*;
    use TextOp::*;
    const fn t(op: TextOp, nocase: bool, negated: bool) -> Op {
        Op::Text {
            op,
            nocase,
            negated,
        }
    }
    [
        ("_not_contains_nocase", t(Contains, true, true)),
        ("_not_starts_with_nocase", t(StartsWith, true, true)),
        ("_not_ends_with_nocase", t(EndsWith, true, true)),
        ("_contains_nocase", t(Contains, true, false)),
        ("_starts_with_nocase", t(StartsWith, true, false)),
        ("_ends_with_nocase", t(EndsWith, true, false)),
        ("_not_contains", t(Contains, false, true)),
        ("_not_starts_with", t(StartsWith, false, true)),
        ("_not_ends_with", t(EndsWith, false, true)),
        ("_contains", t(Contains, false, false)),
        ("_starts_with", t(StartsWith, false, false)),
        ("_ends_with", t(EndsWith, false, false)),
        ("_not_in", Op::In { negated: true }),
        ("_in", Op::In { negated: false }),
        ("_not", Op::Cmp(Not)),
        ("_gte", Op::Cmp(Gte)),
        ("_lte", Op::Cmp(Lte)),
        ("_gt", Op::Cmp(Gt)),
        ("_lt", Op::Cmp(Lt)),
    ]
};

pub fn split_key(key: &str) -> (&str, Op) {
    for (suffix, op) in SUFFIXES {
        if let Some(base) = key.strip_suffix(suffix) {
            if !base.is_empty() {
                return (base, op);
            }
        }
    }
    (key, Op::Cmp(CmpOp::Eq))
}

/// One test of a field's value against the filter's operand(s).
#[derive(Debug, Clone)]
pub enum Test<X> {
    /// A filter that holds for every row (`x_not: null`).
    Always,
    /// A filter that holds for none (`x: null`, `x_gt: null`: SQL comparisons with null).
    Never,
    Cmp(CmpOp, X),
    In(Vec<X>, bool),
    Text {
        op: TextOp,
        needle: X,
        nocase: bool,
        negated: bool,
    },
}

impl<X> Test<X> {
    /// Evaluates the test; `cmp` compares the field's value with an operand, `text` applies a
    /// text operator.
    pub fn eval(
        &self,
        cmp: impl Fn(&X) -> Ordering,
        text: impl Fn(TextOp, &X, bool) -> bool,
    ) -> bool {
        match self {
            Test::Always => true,
            Test::Never => false,
            Test::Cmp(op, x) => {
                let o = cmp(x);
                match op {
                    CmpOp::Eq => o == Ordering::Equal,
                    CmpOp::Not => o != Ordering::Equal,
                    CmpOp::Gt => o == Ordering::Greater,
                    CmpOp::Lt => o == Ordering::Less,
                    CmpOp::Gte => o != Ordering::Less,
                    CmpOp::Lte => o != Ordering::Greater,
                }
            }
            Test::In(xs, negated) => xs.iter().any(|x| cmp(x) == Ordering::Equal) != *negated,
            Test::Text {
                op,
                needle,
                nocase,
                negated,
            } => text(*op, needle, *nocase) != *negated,
        }
    }
}

/// Builds the test for operator `op` with `value`, converting operands with `operand`.
pub fn test<X>(
    op: Op,
    value: &V,
    operand: impl Fn(&V) -> Result<X, QueryError>,
) -> Result<Test<X>, QueryError> {
    Ok(match (op, value) {
        (Op::Cmp(CmpOp::Not), V::Null) => Test::Always,
        (_, V::Null) => Test::Never,
        (Op::Cmp(c), v) => Test::Cmp(c, operand(v)?),
        (Op::In { negated }, V::List(items)) => Test::In(
            items.iter().map(&operand).collect::<Result<_, _>>()?,
            negated,
        ),
        (Op::In { .. }, _) => Test::Never,
        (
            Op::Text {
                op,
                nocase,
                negated,
            },
            v,
        ) => Test::Text {
            op,
            needle: operand(v)?,
            nocase,
            negated,
        },
    })
}

pub fn text_op(op: TextOp, value: &str, needle: &str, nocase: bool) -> bool {
    let (value, needle) = if nocase {
        (value.to_lowercase(), needle.to_lowercase())
    } else {
        (value.to_owned(), needle.to_owned())
    };
    match op {
        TextOp::Contains => value.contains(&needle),
        TextOp::StartsWith => value.starts_with(&needle),
        TextOp::EndsWith => value.ends_with(&needle),
    }
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// Decodes `0x`-prefixed (or bare) hex as graph-node's `Bytes::from_str` does, with the `hex`
/// crate's error messages.
pub fn decode_hex(s: &str) -> Result<Vec<u8>, String> {
    let hex = s.trim_start_matches("0x");
    if !hex.len().is_multiple_of(2) {
        return Err("Odd number of digits".to_owned());
    }
    let digit = |i: usize, c: u8| {
        char::from(c)
            .to_digit(16)
            .map(|d| d as u8)
            .ok_or_else(|| format!("Invalid character {:?} at position {i}", char::from(c)))
    };
    hex.as_bytes()
        .chunks(2)
        .enumerate()
        .map(|(k, pair)| Ok((digit(2 * k, pair[0])? << 4) | digit(2 * k + 1, pair[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_split_longest_first() {
        assert_eq!(split_key("token_not_in").1, Op::In { negated: true });
        assert_eq!(split_key("token_in"), ("token", Op::In { negated: false }));
        assert_eq!(
            split_key("periodStartUnix_gte"),
            ("periodStartUnix", Op::Cmp(CmpOp::Gte))
        );
        assert_eq!(split_key("symbol_not_contains_nocase").0, "symbol");
        assert_eq!(split_key("id"), ("id", Op::Cmp(CmpOp::Eq)));
    }

    #[test]
    fn hex_errors_are_the_hex_crates() {
        assert_eq!(decode_hex("0xabc").unwrap_err(), "Odd number of digits");
        assert_eq!(
            decode_hex("0xzz").unwrap_err(),
            "Invalid character 'z' at position 0"
        );
        assert_eq!(decode_hex("0x0aFF").unwrap(), vec![0x0a, 0xff]);
    }

    #[test]
    fn null_operands_behave_like_sql() {
        let t: Test<i64> = test(Op::Cmp(CmpOp::Eq), &V::Null, |v| {
            Ok(v.as_int().unwrap_or(0))
        })
        .unwrap();
        assert!(!t.eval(|_| Ordering::Equal, |_, _, _| true));
        let t: Test<i64> = test(Op::Cmp(CmpOp::Not), &V::Null, |v| {
            Ok(v.as_int().unwrap_or(0))
        })
        .unwrap();
        assert!(t.eval(|_| Ordering::Equal, |_, _, _| true));
    }
}
