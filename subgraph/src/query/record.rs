//! What the executors read: the tokens a query sees and the hourly rows it scans, whatever holds
//! them (the simulator's in-memory model, or rows read from the mirror's database).

use std::borrow::Cow;

use super::fields::{HourField, TokenField};
use crate::Decimal;

/// The tokens one query sees, by index. Indexes are the executor's own; ids decide every order.
pub trait Tokens {
    /// How many there are.
    fn count(&self) -> usize;
    /// Token `i`'s id: its address, `0x` and lowercase hex.
    fn address(&self, i: usize) -> &str;
    /// The text of a String or Bytes field (`id`, `symbol`, `name`); `None` for numbers.
    fn text(&self, i: usize, field: TokenField) -> Option<&str>;
    /// The value of a BigInt or BigDecimal field; `None` for `id`, `symbol` and `name`.
    fn number(&self, i: usize, field: TokenField) -> Option<&Decimal>;
    /// The block of token `i`'s last change (for `_change_block` filters).
    fn changed_at_block(&self, i: usize) -> i64;
}

/// One `TokenHourData` row.
pub trait HourRecord {
    /// Index of its token in the query's [`Tokens`].
    fn token(&self) -> usize;
    /// `periodStartUnix`.
    fn period_start(&self) -> i64;
    /// `0x<address>-<hourIndex>`.
    fn id(&self) -> &str;
    /// The value of a BigDecimal field; `None` for `id`, `periodStartUnix` and `token`.
    fn number(&self, field: HourField) -> Option<&Decimal>;
    /// The block of the row's last change (for `_change_block` filters).
    fn changed_at_block(&self) -> i64;
    /// The text served for a BigDecimal field: the value's canonical string (a simulated
    /// upstream may serve something else on purpose).
    fn served(&self, field: HourField) -> Option<Cow<'_, str>> {
        self.number(field).map(|d| Cow::Borrowed(d.as_str()))
    }
}

impl<R: HourRecord + ?Sized> HourRecord for &R {
    fn token(&self) -> usize {
        (**self).token()
    }
    fn period_start(&self) -> i64 {
        (**self).period_start()
    }
    fn id(&self) -> &str {
        (**self).id()
    }
    fn number(&self, field: HourField) -> Option<&Decimal> {
        (**self).number(field)
    }
    fn changed_at_block(&self) -> i64 {
        (**self).changed_at_block()
    }
    fn served(&self, field: HourField) -> Option<Cow<'_, str>> {
        (**self).served(field)
    }
}
