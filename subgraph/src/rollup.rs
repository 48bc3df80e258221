//! Combining consecutive periods of a token's `TokenHourData`-shaped values into one: an hour's
//! rows into a day (the mirror's daily rollups), or hours or days into a candle. One rule for
//! all of them, as the subgraph's own `TokenDayData` is built from the same events: the first
//! period's open, the last one's close, price and TVL, the numerically largest high and smallest
//! low (as that period's string), and exact sums of the volumes and fees — kept whole in a
//! rollup, rounded once to 34 significant digits in an answer.

use crate::decimal::Decimal;

/// One period's values.
pub trait Period {
    fn open(&self) -> &Decimal;
    fn high(&self) -> &Decimal;
    fn low(&self) -> &Decimal;
    fn close(&self) -> &Decimal;
    fn price_usd(&self) -> &Decimal;
    fn volume(&self) -> &Decimal;
    fn volume_usd(&self) -> &Decimal;
    fn untracked_volume_usd(&self) -> &Decimal;
    fn fees_usd(&self) -> &Decimal;
    fn total_value_locked(&self) -> &Decimal;
    fn total_value_locked_usd(&self) -> &Decimal;
    /// Hourly rows it holds (1 for an hour).
    fn hours(&self) -> u32;
}

/// Implements [`Period`] for a type holding the eleven values as fields named like the
/// trait's methods, under an optional path (`impl_period!(DayRow, values; hours = |d| d.values.hours)`).
#[macro_export]
macro_rules! impl_period {
    ($ty:ty $(, $path:ident)*; hours = |$s:ident| $hours:expr) => {
        impl $crate::rollup::Period for $ty {
            fn open(&self) -> &$crate::decimal::Decimal {
                &self$(.$path)*.open
            }
            fn high(&self) -> &$crate::decimal::Decimal {
                &self$(.$path)*.high
            }
            fn low(&self) -> &$crate::decimal::Decimal {
                &self$(.$path)*.low
            }
            fn close(&self) -> &$crate::decimal::Decimal {
                &self$(.$path)*.close
            }
            fn price_usd(&self) -> &$crate::decimal::Decimal {
                &self$(.$path)*.price_usd
            }
            fn volume(&self) -> &$crate::decimal::Decimal {
                &self$(.$path)*.volume
            }
            fn volume_usd(&self) -> &$crate::decimal::Decimal {
                &self$(.$path)*.volume_usd
            }
            fn untracked_volume_usd(&self) -> &$crate::decimal::Decimal {
                &self$(.$path)*.untracked_volume_usd
            }
            fn fees_usd(&self) -> &$crate::decimal::Decimal {
                &self$(.$path)*.fees_usd
            }
            fn total_value_locked(&self) -> &$crate::decimal::Decimal {
                &self$(.$path)*.total_value_locked
            }
            fn total_value_locked_usd(&self) -> &$crate::decimal::Decimal {
                &self$(.$path)*.total_value_locked_usd
            }
            fn hours(&self) -> u32 {
                let $s = self;
                $hours
            }
        }
    };
}

/// A borrowed period is a period (roll up rows without copying them).
impl<P: Period + ?Sized> Period for &P {
    fn open(&self) -> &Decimal {
        (**self).open()
    }
    fn high(&self) -> &Decimal {
        (**self).high()
    }
    fn low(&self) -> &Decimal {
        (**self).low()
    }
    fn close(&self) -> &Decimal {
        (**self).close()
    }
    fn price_usd(&self) -> &Decimal {
        (**self).price_usd()
    }
    fn volume(&self) -> &Decimal {
        (**self).volume()
    }
    fn volume_usd(&self) -> &Decimal {
        (**self).volume_usd()
    }
    fn untracked_volume_usd(&self) -> &Decimal {
        (**self).untracked_volume_usd()
    }
    fn fees_usd(&self) -> &Decimal {
        (**self).fees_usd()
    }
    fn total_value_locked(&self) -> &Decimal {
        (**self).total_value_locked()
    }
    fn total_value_locked_usd(&self) -> &Decimal {
        (**self).total_value_locked_usd()
    }
    fn hours(&self) -> u32 {
        (**self).hours()
    }
}

/// Several periods combined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rolled {
    pub open: Decimal,
    pub high: Decimal,
    pub low: Decimal,
    pub close: Decimal,
    pub price_usd: Decimal,
    pub volume: Decimal,
    pub volume_usd: Decimal,
    pub untracked_volume_usd: Decimal,
    pub fees_usd: Decimal,
    pub total_value_locked: Decimal,
    pub total_value_locked_usd: Decimal,
    pub hours: u32,
}

/// How the sums are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sums {
    /// Every digit kept (a rollup, to be summed again).
    Exact,
    /// Rounded once to 34 significant digits, half to even (an answer).
    Rounded,
}

/// Combines `periods`, oldest first; `None` when there is none.
pub fn roll<P: Period>(periods: &[P], sums: Sums) -> Option<Rolled> {
    let first = periods.first()?;
    let last = periods.last()?;
    let mut high = first.high();
    let mut low = first.low();
    for p in &periods[1..] {
        if p.high().cmp_numeric(high).is_gt() {
            high = p.high();
        }
        if p.low().cmp_numeric(low).is_lt() {
            low = p.low();
        }
    }
    let sum = |f: fn(&P) -> &Decimal| match sums {
        Sums::Exact => Decimal::exact_sum(periods.iter().map(f)),
        Sums::Rounded => Decimal::sum(periods.iter().map(f)),
    };
    Some(Rolled {
        open: first.open().clone(),
        high: high.clone(),
        low: low.clone(),
        close: last.close().clone(),
        price_usd: last.price_usd().clone(),
        volume: sum(P::volume),
        volume_usd: sum(P::volume_usd),
        untracked_volume_usd: sum(P::untracked_volume_usd),
        fees_usd: sum(P::fees_usd),
        total_value_locked: last.total_value_locked().clone(),
        total_value_locked_usd: last.total_value_locked_usd().clone(),
        hours: periods.iter().map(P::hours).sum(),
    })
}

crate::impl_period!(Rolled; hours = |r| r.hours);

#[cfg(test)]
mod tests {
    use super::*;

    fn p(open: &str, high: &str, low: &str, close: &str, vol: &str) -> Rolled {
        let d = |s: &str| Decimal::parse(s).unwrap();
        Rolled {
            open: d(open),
            high: d(high),
            low: d(low),
            close: d(close),
            price_usd: d(close),
            volume: d(vol),
            volume_usd: d(vol),
            untracked_volume_usd: d(vol),
            fees_usd: d("0"),
            total_value_locked: d(close),
            total_value_locked_usd: d("1"),
            hours: 1,
        }
    }

    #[test]
    fn combines_like_the_subgraph() {
        let parts = [
            p("9", "9.5", "8", "9", "0.1"),
            p("9", "10", "0.5", "9.9", "0.2"),
            p("9.9", "9.99", "7", "10.01", "0"),
        ];
        let r = roll(&parts, Sums::Rounded).unwrap();
        assert_eq!((r.open.as_str(), r.close.as_str()), ("9", "10.01"));
        assert_eq!((r.high.as_str(), r.low.as_str()), ("10", "0.5"));
        assert_eq!(r.volume.as_str(), "0.3");
        assert_eq!(r.hours, 3);
        assert!(roll::<Rolled>(&[], Sums::Exact).is_none());
    }

    /// Rolling up in two steps with exact sums, then rounding once, is rolling up at once.
    #[test]
    fn exact_partial_sums_round_once() {
        let big = "1000000000000000000000000000000000";
        let parts = [
            p("1", "1", "1", "1", big),
            p("1", "1", "1", "1", "0.5"),
            p("1", "1", "1", "1", "1.5"),
        ];
        let whole = roll(&parts, Sums::Rounded).unwrap();
        let first = roll(&parts[..2], Sums::Exact).unwrap();
        let second = roll(&parts[2..], Sums::Exact).unwrap();
        let twice = roll(&[first, second], Sums::Rounded).unwrap();
        assert_eq!(twice.volume, whole.volume);
        assert_eq!(twice.volume.as_str(), "1000000000000000000000000000000002");
        assert_eq!(twice.hours, 3);
    }
}
