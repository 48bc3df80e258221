//! The API's scalars and enums. Input scalars take any string at the GraphQL level and are
//! checked by the resolver, which knows the argument's name and can say what is allowed.

use async_graphql::{Enum, InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::{DateTime as ChronoDateTime, SecondsFormat, Utc};

use crate::decimal::Decimal;
use crate::error::{code, ApiError};

/// Exact decimal as a string in plain notation (no exponent), as The Graph writes BigDecimal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BigDecimal(pub String);

/// Exact decimal as a string in plain notation (no exponent), as The Graph writes BigDecimal.
#[Scalar(name = "BigDecimal")]
impl ScalarType for BigDecimal {
    fn parse(value: Value) -> InputValueResult<Self> {
        match value {
            Value::String(s) => Decimal::parse(&s)
                .map(|d| BigDecimal(d.into()))
                .map_err(|e| user_error(e.to_string())),
            other => Err(user_error(format!(
                "expected a decimal string such as \"1.5\", found {other}"
            ))),
        }
    }
    fn to_value(&self) -> Value {
        Value::String(self.0.clone())
    }
}

impl From<Decimal> for BigDecimal {
    fn from(d: Decimal) -> Self {
        BigDecimal(d.into())
    }
}

/// Arbitrary-size integer as a string, as The Graph writes BigInt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BigInt(pub String);

/// Arbitrary-size integer as a string, as The Graph writes BigInt.
#[Scalar(name = "BigInt")]
impl ScalarType for BigInt {
    fn parse(value: Value) -> InputValueResult<Self> {
        match value {
            Value::String(s) => Decimal::parse_integer(&s)
                .map(|d| BigInt(d.into()))
                .map_err(|e| user_error(e.to_string())),
            other => Err(user_error(format!(
                "expected an integer string such as \"18\", found {other}"
            ))),
        }
    }
    fn to_value(&self) -> Value {
        Value::String(self.0.clone())
    }
}

/// RFC 3339 timestamp in UTC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DateTime(String);

/// RFC 3339 timestamp in UTC.
#[Scalar(name = "DateTime")]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        // Any literal is taken here and checked by the resolver, whose message names the argument.
        Ok(DateTime(literal(value)))
    }
    fn to_value(&self) -> Value {
        Value::String(self.0.clone())
    }
}

impl DateTime {
    /// A timestamp from unix seconds, written in UTC ending in `Z`.
    pub fn from_unix(unix: i64) -> DateTime {
        DateTime::from(crate::domain::utc(unix))
    }

    /// The value as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The input value as a point in time (to the nanosecond); `arg` names the argument in the
    /// error.
    pub fn instant(&self, arg: &str) -> Result<ChronoDateTime<Utc>, ApiError> {
        ChronoDateTime::parse_from_rfc3339(&self.0)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| {
                ApiError::bad_input(format!(
                    "{arg}: {} is not an RFC 3339 date-time; write a string such as \
                     \"2024-01-01T00:00:00Z\"",
                    self.0
                ))
            })
    }
}

impl From<ChronoDateTime<Utc>> for DateTime {
    fn from(t: ChronoDateTime<Utc>) -> Self {
        DateTime(t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

/// Bucket width: a whole number of hours from 1h to 1w, written like 1h, 4h, 12h, 1d, 1w.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interval(pub String);

/// Bucket width: a whole number of hours from 1h to 1w, written like 1h, 4h, 12h, 1d, 1w.
#[Scalar(name = "Interval")]
impl ScalarType for Interval {
    fn parse(value: Value) -> InputValueResult<Self> {
        // Any literal is taken here and checked by the resolver, whose message names the argument.
        Ok(Interval(literal(value)))
    }
    fn to_value(&self) -> Value {
        Value::String(self.0.clone())
    }
}

/// A string input as itself, anything else as its GraphQL literal (so that the error message
/// shows what the client sent).
fn literal(value: Value) -> String {
    match value {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

impl Interval {
    /// The default, one hour.
    pub fn hour() -> Interval {
        Interval("1h".to_owned())
    }
}

/// Order of candles by time.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum Order {
    /// Oldest first.
    #[default]
    Asc,
    /// Newest first.
    Desc,
}

fn user_error<T: async_graphql::InputType>(msg: String) -> InputValueError<T> {
    InputValueError::custom(msg).with_extension("code", code::BAD_USER_INPUT)
}
