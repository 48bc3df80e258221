//! `where` filters: compiled from the coerced filter object into predicates over rows and tokens,
//! by graph-node's operators (see [`super::ops`]).
//!
//! Filters on the token a row belongs to (`token`, `token_in`, `token_: {…}`, …) depend only on
//! the token, so they are evaluated once per token into a mask; the scan then also uses the mask
//! and the `periodStartUnix` bounds to skip rows it does not need to look at.

use std::cmp::Ordering;

use super::error::QueryError;
use super::fields::{HourField, TokenField};
use super::ops::{contains, decode_hex, split_key, test, text_op, CmpOp, Op, Test};
use super::record::{HourRecord, Tokens};
use super::value::V;
use crate::Number;

/// A boolean combination of conditions.
#[derive(Debug, Clone)]
pub enum Pred<C> {
    All(Vec<Pred<C>>),
    Any(Vec<Pred<C>>),
    Cond(C),
}

impl<C> Pred<C> {
    fn eval(&self, f: &impl Fn(&C) -> bool) -> bool {
        match self {
            Pred::All(ps) => ps.iter().all(|p| p.eval(f)),
            Pred::Any(ps) => ps.iter().any(|p| p.eval(f)),
            Pred::Cond(c) => f(c),
        }
    }

    /// The conditions that must all hold (the top level and nested `and`s).
    pub fn required(&self) -> Vec<&C> {
        match self {
            Pred::All(ps) => ps.iter().flat_map(Pred::required).collect(),
            Pred::Cond(c) => vec![c],
            Pred::Any(_) => vec![],
        }
    }

    /// The parts that must all hold: conditions and disjunctions under the top level and
    /// nested `and`s.
    pub fn required_preds(&self) -> Vec<&Pred<C>> {
        match self {
            Pred::All(ps) => ps.iter().flat_map(Pred::required_preds).collect(),
            other => vec![other],
        }
    }
}

/// A condition on a `TokenHourData` row.
#[derive(Debug, Clone)]
pub enum HourCond {
    Id(Test<String>),
    Period(Test<i64>),
    /// The row's token must be one of those marked (from `token…` and `token_` filters).
    Tokens(Vec<bool>),
    Dec(HourField, Test<Number>),
    /// `_change_block: {number_gte: N}`.
    ChangedSince(i64),
}

/// A condition on a `Token`.
#[derive(Debug, Clone)]
pub enum TokenCond {
    Id(Test<Vec<u8>>),
    Text(TokenField, Test<String>),
    Num(TokenField, Test<Number>),
    ChangedSince(i64),
}

impl Pred<HourCond> {
    /// Compiles a `TokenHourData_filter` value.
    pub fn hours(filter: &V, tokens: &dyn Tokens) -> Result<Self, QueryError> {
        compile(filter, &mut |key, value| hour_cond(key, value, tokens))
    }

    /// Whether `row` passes.
    pub fn matches(&self, row: &impl HourRecord) -> bool {
        self.eval(&|c| match c {
            HourCond::Id(t) => t.eval(|x| row.id().as_bytes().cmp(x.as_bytes()), |_, _, _| false),
            HourCond::Period(t) => t.eval(|x| row.period_start().cmp(x), |_, _, _| false),
            HourCond::Tokens(mask) => mask.get(row.token()).copied().unwrap_or(false),
            HourCond::Dec(field, t) => match row.number(*field) {
                Some(d) => t.eval(|x| d.cmp_number(x), |_, _, _| false),
                None => false,
            },
            HourCond::ChangedSince(n) => row.changed_at_block() >= *n,
        })
    }

    /// Tokens a passing row may belong to.
    pub fn token_mask(&self, count: usize) -> Vec<bool> {
        let mut mask = vec![true; count];
        for c in self.required() {
            if let HourCond::Tokens(m) = c {
                for (a, b) in mask.iter_mut().zip(m) {
                    *a &= *b;
                }
            }
        }
        mask
    }

    /// Hour indexes `[from, to)` a passing row may have (from `periodStartUnix` conditions).
    pub fn hour_bounds(&self) -> (i64, i64) {
        let (mut from, mut to) = (i64::MIN, i64::MAX);
        let floor = |x: i64| x.div_euclid(3600);
        let ceil = |x: i64| -(-x).div_euclid(3600);
        for c in self.required() {
            let HourCond::Period(t) = c else { continue };
            let (lo, hi) = match t {
                Test::Cmp(CmpOp::Eq, x) => (ceil(*x), floor(*x) + 1),
                Test::Cmp(CmpOp::Gt, x) => (floor(*x) + 1, i64::MAX),
                Test::Cmp(CmpOp::Gte, x) => (ceil(*x), i64::MAX),
                Test::Cmp(CmpOp::Lt, x) => (i64::MIN, ceil(*x)),
                Test::Cmp(CmpOp::Lte, x) => (i64::MIN, floor(*x) + 1),
                Test::In(xs, false) => (
                    xs.iter().map(|x| ceil(*x)).min().unwrap_or(0),
                    xs.iter().map(|x| floor(*x) + 1).max().unwrap_or(0),
                ),
                Test::Never => (0, 0),
                _ => continue,
            };
            from = from.max(lo);
            to = to.min(hi);
        }
        (from, to)
    }
}

impl Pred<TokenCond> {
    /// Compiles a `Token_filter` value.
    pub fn tokens(filter: &V) -> Result<Self, QueryError> {
        compile(filter, &mut token_cond)
    }

    /// Whether token `i` passes.
    pub fn matches(&self, i: usize, src: &dyn Tokens) -> bool {
        if i >= src.count() {
            return false;
        }
        self.eval(&|c| match c {
            TokenCond::Id(t) => {
                let addr = decode_hex(src.address(i)).unwrap_or_default();
                t.eval(|x| addr.as_slice().cmp(x), |_, x, _| contains(&addr, x))
            }
            TokenCond::Text(field, t) => {
                let value = src.text(i, *field).unwrap_or("");
                t.eval(
                    |x| value.as_bytes().cmp(x.as_bytes()),
                    |op, x, nocase| text_op(op, value, x, nocase),
                )
            }
            TokenCond::Num(field, t) => match src.number(i, *field) {
                Some(d) => t.eval(|x| d.cmp_number(x), |_, _, _| false),
                None => false,
            },
            TokenCond::ChangedSince(n) => src.changed_at_block(i) >= *n,
        })
    }
}

/// Compiles one key of a filter object into a condition.
type CondFn<'a, C> = dyn FnMut(&str, &V) -> Result<Pred<C>, QueryError> + 'a;

/// Compiles a filter object: each key is one condition, `and`/`or` take lists of filters.
fn compile<C>(filter: &V, cond: &mut CondFn<'_, C>) -> Result<Pred<C>, QueryError> {
    let V::Object(map) = filter else {
        return Ok(Pred::All(vec![]));
    };
    // graph-node refuses `or` next to column filters at the same level (`and` may stand there).
    if map.contains_key("or") {
        let columns: Vec<String> = map
            .keys()
            .filter(|k| !matches!(k.as_str(), "or" | "and"))
            .cloned()
            .collect();
        if !columns.is_empty() {
            return Err(QueryError::OrMixedWithColumns(columns));
        }
    }
    let mut all = Vec::with_capacity(map.len());
    for (key, value) in map {
        let nested = |value: &V, cond: &mut CondFn<'_, C>| match value {
            V::List(items) => items
                .iter()
                .map(|f| compile(f, cond))
                .collect::<Result<Vec<_>, _>>(),
            _ => Ok(vec![]),
        };
        match key.as_str() {
            "and" => all.push(Pred::All(nested(value, cond)?)),
            "or" => {
                // `or: null` filters nothing; `or: []` matches nothing (graph-node's SQL for an
                // empty disjunction is `false`).
                if matches!(value, V::List(_)) {
                    all.push(Pred::Any(nested(value, cond)?));
                }
            }
            _ => all.push(cond(key, value)?),
        }
    }
    Ok(Pred::All(all))
}

fn hour_cond(key: &str, value: &V, tokens: &dyn Tokens) -> Result<Pred<HourCond>, QueryError> {
    let cond = match key {
        "_change_block" => HourCond::ChangedSince(change_block(value)),
        "token_" => {
            let pred = Pred::tokens(value)?;
            HourCond::Tokens(
                (0..tokens.count())
                    .map(|i| pred.matches(i, tokens))
                    .collect(),
            )
        }
        _ => {
            let (base, op) = split_key(key);
            match HourField::named(base) {
                Some(HourField::Id) => HourCond::Id(test(op, value, text_operand)?),
                Some(HourField::PeriodStartUnix) => HourCond::Period(test(op, value, |v| {
                    v.as_int().ok_or_else(|| unsupported(key))
                })?),
                Some(HourField::Token) => HourCond::Tokens(token_ref_mask(op, value, tokens)?),
                Some(field) => HourCond::Dec(field, test(op, value, big_decimal)?),
                None => return Err(unsupported(key)),
            }
        }
    };
    Ok(Pred::Cond(cond))
}

fn token_cond(key: &str, value: &V) -> Result<Pred<TokenCond>, QueryError> {
    if key == "_change_block" {
        return Ok(Pred::Cond(TokenCond::ChangedSince(change_block(value))));
    }
    let (base, op) = split_key(key);
    let cond = match TokenField::named(base) {
        Some(TokenField::Id) => TokenCond::Id(test(op, value, bytes_operand)?),
        Some(f) if f.is_text() => TokenCond::Text(f, test(op, value, text_operand)?),
        Some(f) if f.is_integer() => TokenCond::Num(f, test(op, value, big_int)?),
        Some(f) => TokenCond::Num(f, test(op, value, big_decimal)?),
        None => return Err(unsupported(key)),
    };
    Ok(Pred::Cond(cond))
}

/// `token`, `token_in`, `token_contains`, … on a row: the token's id given as a String.
/// Comparisons decode it as Bytes (the id's type); text operators look at its hex text.
fn token_ref_mask(op: Op, value: &V, tokens: &dyn Tokens) -> Result<Vec<bool>, QueryError> {
    Ok(match op {
        Op::Text { .. } => {
            let t = test(op, value, text_operand)?;
            (0..tokens.count())
                .map(|i| {
                    t.eval(
                        |_| Ordering::Equal,
                        |op, x, nocase| text_op(op, tokens.address(i), x, nocase),
                    )
                })
                .collect()
        }
        _ => {
            let t = test(op, value, bytes_operand)?;
            (0..tokens.count())
                .map(|i| {
                    let addr = decode_hex(tokens.address(i)).unwrap_or_default();
                    t.eval(|x| addr.as_slice().cmp(x), |_, _, _| false)
                })
                .collect()
        }
    })
}

fn text_operand(v: &V) -> Result<String, QueryError> {
    Ok(v.as_str().unwrap_or_default().to_owned())
}

fn bytes_operand(v: &V) -> Result<Vec<u8>, QueryError> {
    decode_hex(v.as_str().unwrap_or_default()).map_err(QueryError::bytes)
}

fn big_decimal(v: &V) -> Result<Number, QueryError> {
    Number::big_decimal(v.as_str().unwrap_or_default()).map_err(|message| QueryError::ValueParse {
        what: "BigDecimal".to_owned(),
        message,
    })
}

fn big_int(v: &V) -> Result<Number, QueryError> {
    Number::big_int(v.as_str().unwrap_or_default()).map_err(|message| QueryError::ValueParse {
        what: "BigInt".to_owned(),
        message,
    })
}

fn change_block(value: &V) -> i64 {
    match value {
        V::Object(m) => m.get("number_gte").and_then(V::as_int).unwrap_or(0),
        _ => 0,
    }
}

fn unsupported(key: &str) -> QueryError {
    QueryError::Unimplemented(format!("filter `{key}`"))
}
