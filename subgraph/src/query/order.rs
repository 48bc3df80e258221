//! `orderBy`/`orderDirection` and paging: sort keys by the SDL's enum values, ties broken by `id`
//! in the same direction, and `skip`/`first` applied after sorting.
//!
//! Ids compare bytewise (PostgreSQL's C collation), so a `TokenHourData` id order is not time
//! order; BigDecimal and BigInt keys compare as numbers.

use std::cmp::Ordering;

use super::fields::{HourField, TokenField};
use super::record::{HourRecord, Tokens};

/// A sort key of `TokenHourData`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HourKey {
    Id,
    Period,
    /// `token` and `token__<field>`.
    Token(TokenField),
    Dec(HourField),
}

impl HourKey {
    /// The key a `TokenHourData_orderBy` value names.
    pub fn named(name: &str) -> Option<HourKey> {
        if let Some(field) = name.strip_prefix("token__") {
            return TokenField::named(field).map(HourKey::Token);
        }
        Some(match HourField::named(name)? {
            HourField::Id => HourKey::Id,
            HourField::PeriodStartUnix => HourKey::Period,
            HourField::Token => HourKey::Token(TokenField::Id),
            field => HourKey::Dec(field),
        })
    }

    /// Compares two rows by this key, then by id.
    pub fn cmp(self, a: &impl HourRecord, b: &impl HourRecord, src: &dyn Tokens) -> Ordering {
        let by_key = match self {
            HourKey::Id => Ordering::Equal,
            HourKey::Period => a.period_start().cmp(&b.period_start()),
            HourKey::Token(field) => cmp_tokens(field, a.token(), b.token(), src),
            HourKey::Dec(field) => match (a.number(field), b.number(field)) {
                (Some(x), Some(y)) => x.cmp_numeric(y),
                _ => Ordering::Equal,
            },
        };
        by_key.then_with(|| a.id().as_bytes().cmp(b.id().as_bytes()))
    }
}

/// Compares tokens `a` and `b` by `field`, then by id.
pub fn cmp_tokens(field: TokenField, a: usize, b: usize, src: &dyn Tokens) -> Ordering {
    if a >= src.count() || b >= src.count() {
        return Ordering::Equal;
    }
    let by_key = match (src.text(a, field), src.text(b, field)) {
        (Some(x), Some(y)) => x.as_bytes().cmp(y.as_bytes()),
        _ => match (src.number(a, field), src.number(b, field)) {
            (Some(x), Some(y)) => x.cmp_numeric(y),
            _ => Ordering::Equal,
        },
    };
    // Addresses have one length and are lowercase, so text order is byte order.
    by_key.then_with(|| src.address(a).cmp(src.address(b)))
}

/// Sorts `items` with `cmp` (reversed for `desc`) and keeps `first` of them after `skip`.
/// Only the `skip + first` smallest are fully sorted.
pub fn page<T>(
    mut items: Vec<T>,
    skip: usize,
    first: usize,
    desc: bool,
    cmp: impl Fn(&T, &T) -> Ordering,
) -> Vec<T> {
    let cmp = |a: &T, b: &T| if desc { cmp(b, a) } else { cmp(a, b) };
    let need = skip.saturating_add(first);
    if need == 0 || skip >= items.len() {
        return Vec::new();
    }
    if items.len() > need {
        items.select_nth_unstable_by(need, cmp);
        items.truncate(need);
    }
    items.sort_by(cmp);
    items.drain(skip..).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_after_sorting() {
        let v: Vec<i32> = (0..100).rev().collect();
        assert_eq!(page(v.clone(), 10, 3, false, |a, b| a.cmp(b)), [10, 11, 12]);
        assert_eq!(page(v.clone(), 0, 2, true, |a, b| a.cmp(b)), [99, 98]);
        assert_eq!(page(v.clone(), 98, 5, false, |a, b| a.cmp(b)), [98, 99]);
        assert!(page(v.clone(), 100, 5, false, |a, b| a.cmp(b)).is_empty());
        assert!(page(v, 0, 0, false, |a, b| a.cmp(b)).is_empty());
    }

    #[test]
    fn keys_by_name() {
        assert_eq!(
            HourKey::named("token"),
            Some(HourKey::Token(TokenField::Id))
        );
        assert_eq!(
            HourKey::named("token__symbol"),
            Some(HourKey::Token(TokenField::Symbol))
        );
        assert_eq!(
            HourKey::named("close"),
            Some(HourKey::Dec(HourField::Close))
        );
        assert_eq!(HourKey::named("nope"), None);
    }
}
