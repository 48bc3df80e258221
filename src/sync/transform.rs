//! Upstream values into storage rows, validated (pure: no I/O). A row that fails validation is
//! a permanent error for its token, reported with the offending value; nothing of it is stored.

use crate::db::hours::HourRow;
use crate::db::tokens::TokenMeta;
use crate::decimal::Decimal;

use super::queries::{HourData, Token};

/// Why an upstream value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid upstream {what}: {reason}")]
pub struct InvalidRow {
    /// The token the value belongs to (lowercase address), when it has a well-formed one.
    pub token: Option<String>,
    /// Which row or entity, e.g. `TokenHourData 0xabc-123`.
    pub what: String,
    pub reason: String,
}

fn invalid(what: impl Into<String>, reason: impl Into<String>) -> InvalidRow {
    InvalidRow {
        token: None,
        what: what.into(),
        reason: reason.into(),
    }
}

impl InvalidRow {
    /// The same error, about `token`'s data.
    pub fn of_token(mut self, token: &str) -> InvalidRow {
        self.token = Some(token.to_owned());
        self
    }
}

fn decimal(what: &str, field: &str, value: &str) -> Result<Decimal, InvalidRow> {
    Decimal::parse(value).map_err(|e| invalid(what, format!("{field}: {e}")))
}

fn integer(what: &str, field: &str, value: &str) -> Result<Decimal, InvalidRow> {
    Decimal::parse_integer(value).map_err(|e| invalid(what, format!("{field}: {e}")))
}

/// Checks one page of hourly rows of `address`, asked for from `from` (inclusive) to `until`
/// (exclusive): each id is `<address>-<periodStartUnix / 3600>`, each hour aligned, inside the
/// range, after the previous row, of the token asked for, with every decimal canonical.
pub fn hour_rows(
    address: &str,
    from: i64,
    until: i64,
    page: Vec<HourData>,
) -> Result<Vec<HourRow>, InvalidRow> {
    check_hour_rows(address, from, until, page).map_err(|e| e.of_token(address))
}

fn check_hour_rows(
    address: &str,
    from: i64,
    until: i64,
    page: Vec<HourData>,
) -> Result<Vec<HourRow>, InvalidRow> {
    let mut out = Vec::with_capacity(page.len());
    let mut previous: Option<i64> = None;
    for r in page {
        let id = r.id.into_inner();
        let what = format!("TokenHourData {id:?}");
        let period = i64::from(r.period_start_unix);
        if period.rem_euclid(3600) != 0 {
            return Err(invalid(
                &what,
                format!("periodStartUnix {period} is not on the hour"),
            ));
        }
        let expected_id = format!("{address}-{}", period / 3600);
        if id != expected_id {
            return Err(invalid(
                &what,
                format!("id does not match its token and hour (expected {expected_id:?})"),
            ));
        }
        if r.token.id.0 != address {
            return Err(invalid(
                &what,
                format!("belongs to token {:?}, not {address}", r.token.id.0),
            ));
        }
        if period < from || period >= until {
            return Err(invalid(
                &what,
                format!(
                    "periodStartUnix {period} is outside the range asked for [{from}, {until})"
                ),
            ));
        }
        if previous.is_some_and(|p| period <= p) {
            return Err(invalid(
                &what,
                "rows are not in ascending periodStartUnix order",
            ));
        }
        previous = Some(period);
        let d = |field: &str, v: &str| decimal(&what, field, v);
        out.push(HourRow {
            period_start_unix: period,
            open: d("open", &r.open.0)?,
            high: d("high", &r.high.0)?,
            low: d("low", &r.low.0)?,
            close: d("close", &r.close.0)?,
            price_usd: d("priceUSD", &r.price_usd.0)?,
            volume: d("volume", &r.volume.0)?,
            volume_usd: d("volumeUSD", &r.volume_usd.0)?,
            untracked_volume_usd: d("untrackedVolumeUSD", &r.untracked_volume_usd.0)?,
            fees_usd: d("feesUSD", &r.fees_usd.0)?,
            total_value_locked: d("totalValueLocked", &r.total_value_locked.0)?,
            total_value_locked_usd: d("totalValueLockedUSD", &r.total_value_locked_usd.0)?,
            id,
        });
    }
    Ok(out)
}

/// Checks one upstream `Token`.
pub fn token(t: Token) -> Result<TokenMeta, InvalidRow> {
    let address = t.id.0.to_ascii_lowercase();
    let what = format!("Token {address:?}");
    if crate::domain::parse_address(&address).is_err() {
        return Err(invalid(&what, "id is not a 0x address of 40 hex digits"));
    }
    let d = |field: &str, v: &str| decimal(&what, field, v).map_err(|e| e.of_token(&address));
    let i = |field: &str, v: &str| integer(&what, field, v).map_err(|e| e.of_token(&address));
    Ok(TokenMeta {
        symbol: t.symbol,
        name: t.name,
        decimals: i("decimals", &t.decimals.0)?,
        total_supply: i("totalSupply", &t.total_supply.0)?,
        tx_count: i("txCount", &t.tx_count.0)?,
        pool_count: i("poolCount", &t.pool_count.0)?,
        volume: d("volume", &t.volume.0)?,
        volume_usd: d("volumeUSD", &t.volume_usd.0)?,
        untracked_volume_usd: d("untrackedVolumeUSD", &t.untracked_volume_usd.0)?,
        fees_usd: d("feesUSD", &t.fees_usd.0)?,
        total_value_locked: d("totalValueLocked", &t.total_value_locked.0)?,
        total_value_locked_usd: d("totalValueLockedUSD", &t.total_value_locked_usd.0)?,
        total_value_locked_usd_untracked: d(
            "totalValueLockedUSDUntracked",
            &t.total_value_locked_usd_untracked.0,
        )?,
        derived_eth: d("derivedETH", &t.derived_eth.0)?,
        address,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::queries::{BigDecimal, Bytes, TokenId};

    const A: &str = "0x00000000000000000000000000000000000000aa";

    fn row(id: &str, period: i32, open: &str) -> HourData {
        let d = |s: &str| BigDecimal(s.to_owned());
        HourData {
            id: cynic::Id::new(id),
            period_start_unix: period,
            token: TokenId {
                id: Bytes(A.to_owned()),
            },
            open: d(open),
            high: d("2"),
            low: d("0.5"),
            close: d("1"),
            price_usd: d("1"),
            volume: d("0"),
            volume_usd: d("0"),
            untracked_volume_usd: d("0"),
            fees_usd: d("0"),
            total_value_locked: d("10"),
            total_value_locked_usd: d("10"),
        }
    }

    #[test]
    fn accepts_a_good_page() {
        let rows = hour_rows(
            A,
            0,
            i64::MAX,
            vec![
                row(&format!("{A}-1"), 3600, "1.5"),
                row(&format!("{A}-2"), 7200, "1"),
            ],
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].open.as_str(), "1.5");
        assert_eq!(rows[1].id, format!("{A}-2"));
    }

    #[test]
    fn refuses_bad_rows_naming_the_value() {
        let cases = [
            (row(&format!("{A}-1"), 3601, "1"), "not on the hour"),
            (row(&format!("{A}-2"), 3600, "1"), "expected"),
            (row(&format!("{A}-1"), 3600, "1e5"), "\"1e5\""),
            (row(&format!("{A}-1"), 3600, "NaN"), "open"),
        ];
        for (r, needle) in cases {
            let err = hour_rows(A, 0, i64::MAX, vec![r]).unwrap_err();
            assert!(err.to_string().contains(needle), "{err}");
        }
        let out_of_range = hour_rows(A, 7200, i64::MAX, vec![row(&format!("{A}-1"), 3600, "1")]);
        assert!(out_of_range.unwrap_err().reason.contains("outside"));
        let unordered = hour_rows(
            A,
            0,
            i64::MAX,
            vec![
                row(&format!("{A}-2"), 7200, "1"),
                row(&format!("{A}-1"), 3600, "1"),
            ],
        );
        assert!(unordered.unwrap_err().reason.contains("order"));
        let mut other = row(&format!("{A}-1"), 3600, "1");
        other.token.id = Bytes("0x00000000000000000000000000000000000000bb".into());
        let err = hour_rows(A, 0, i64::MAX, vec![other]).unwrap_err();
        assert_eq!(err.token.as_deref(), Some(A), "the error names its token");
    }
}
