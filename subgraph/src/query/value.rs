//! Input values: literals and JSON variables turned into one value type, coerced to the SDL's
//! types by graph-node's rules, and printed the way graph-node prints them in errors.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use async_graphql_parser::types::{BaseType, Type};
use async_graphql_value::{ConstValue, Value};

use super::schema::{Schema, TypeDef};

/// An input value with its variables resolved (graph-node's `r::Value`, as far as it matters).
#[derive(Debug, Clone, PartialEq)]
pub enum V {
    Null,
    Int(i64),
    Float(f64),
    String(String),
    Boolean(bool),
    Enum(String),
    List(Vec<V>),
    /// Keys sorted, as graph-node keeps them (a `BTreeMap`).
    Object(BTreeMap<String, V>),
}

/// Variable values by name, already coerced to their declared types.
pub type Variables = HashMap<String, V>;

impl V {
    /// A JSON value (from the request's `variables`).
    pub fn from_json(j: &serde_json::Value) -> V {
        match j {
            serde_json::Value::Null => V::Null,
            serde_json::Value::Bool(b) => V::Boolean(*b),
            serde_json::Value::Number(n) => number(n),
            serde_json::Value::String(s) => V::String(s.clone()),
            serde_json::Value::Array(a) => V::List(a.iter().map(V::from_json).collect()),
            serde_json::Value::Object(o) => V::Object(
                o.iter()
                    .map(|(k, v)| (k.clone(), V::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// A constant from the SDL or a variable's default.
    pub fn from_const(c: &ConstValue) -> V {
        match c {
            ConstValue::Null => V::Null,
            ConstValue::Number(n) => number(n),
            ConstValue::String(s) => V::String(s.clone()),
            ConstValue::Boolean(b) => V::Boolean(*b),
            ConstValue::Binary(b) => V::String(String::from_utf8_lossy(b).into_owned()),
            ConstValue::Enum(e) => V::Enum(e.to_string()),
            ConstValue::List(l) => V::List(l.iter().map(V::from_const).collect()),
            ConstValue::Object(o) => V::Object(
                o.iter()
                    .map(|(k, v)| (k.to_string(), V::from_const(v)))
                    .collect(),
            ),
        }
    }

    /// A literal from the query; variables nested inside it that have no value become null
    /// (graph-node's behaviour). A bare variable is handled by [`resolve_argument`].
    pub fn from_literal(v: &Value, vars: &Variables) -> V {
        match v {
            Value::Variable(name) => vars.get(name.as_str()).cloned().unwrap_or(V::Null),
            Value::Null => V::Null,
            Value::Number(n) => number(n),
            Value::String(s) => V::String(s.clone()),
            Value::Boolean(b) => V::Boolean(*b),
            Value::Binary(b) => V::String(String::from_utf8_lossy(b).into_owned()),
            Value::Enum(e) => V::Enum(e.to_string()),
            Value::List(l) => V::List(l.iter().map(|x| V::from_literal(x, vars)).collect()),
            Value::Object(o) => V::Object(
                o.iter()
                    .map(|(k, x)| (k.to_string(), V::from_literal(x, vars)))
                    .collect(),
            ),
        }
    }

    /// graph-node's rendering of a value in "Invalid value provided for argument" errors: the
    /// Rust `Debug` form of graphql_parser's query `Value`, e.g. `String("abc")`,
    /// `Int(Number(1))`, `Object({"a": Enum("x")})`.
    pub fn debug(&self) -> String {
        let mut out = String::new();
        self.write_debug(&mut out);
        out
    }

    fn write_debug(&self, out: &mut String) {
        match self {
            V::Null => out.push_str("Null"),
            V::Int(i) => {
                let _ = write!(out, "Int(Number({i}))");
            }
            V::Float(f) => {
                let _ = write!(out, "Float({f:?})");
            }
            V::String(s) => {
                let _ = write!(out, "String({s:?})");
            }
            V::Boolean(b) => {
                let _ = write!(out, "Boolean({b})");
            }
            V::Enum(e) => {
                let _ = write!(out, "Enum({e:?})");
            }
            V::List(items) => {
                out.push_str("List([");
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.write_debug(out);
                }
                out.push_str("])");
            }
            V::Object(map) => {
                out.push_str("Object({");
                for (i, (k, v)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    let _ = write!(out, "{k:?}: ");
                    v.write_debug(out);
                }
                out.push_str("})");
            }
        }
    }

    /// The value as an `i64`, if it is an Int.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            V::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The text of a String or Enum value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            V::String(s) | V::Enum(s) => Some(s),
            _ => None,
        }
    }
}

fn number(n: &serde_json::Number) -> V {
    match n.as_i64() {
        Some(i) => V::Int(i),
        None => V::Float(n.as_f64().unwrap_or(f64::NAN)),
    }
}

/// The value of an argument as written: `None` when it is a variable that has no value (so the
/// argument's default applies, as in graph-node).
pub fn resolve_argument(v: &Value, vars: &Variables) -> Option<V> {
    match v {
        Value::Variable(name) => vars.get(name.as_str()).cloned(),
        other => Some(V::from_literal(other, vars)),
    }
}

/// Coerces `v` to `ty` by graph-node's rules; `None` when it does not fit.
pub fn coerce(schema: &Schema, v: &V, ty: &Type) -> Option<V> {
    if let V::Null = v {
        return ty.nullable.then_some(V::Null);
    }
    match &ty.base {
        BaseType::List(inner) => match v {
            V::List(items) => items
                .iter()
                .map(|item| coerce(schema, item, inner))
                .collect::<Option<Vec<V>>>()
                .map(V::List),
            _ => None,
        },
        BaseType::Named(name) => match schema.get(name)? {
            TypeDef::Scalar => coerce_scalar(name, v),
            TypeDef::Enum(values) => match v {
                V::String(s) | V::Enum(s) if values.iter().any(|x| x == s) => {
                    Some(V::Enum(s.clone()))
                }
                _ => None,
            },
            TypeDef::InputObject(fields) => match v {
                V::Object(map) => map
                    .iter()
                    .map(|(k, x)| {
                        let def = fields.iter().find(|f| f.name == *k)?;
                        Some((k.clone(), coerce(schema, x, &def.ty)?))
                    })
                    .collect::<Option<BTreeMap<_, _>>>()
                    .map(V::Object),
                _ => None,
            },
            TypeDef::Object(_) => None,
        },
    }
}

fn coerce_scalar(name: &str, v: &V) -> Option<V> {
    match (name, v) {
        ("Boolean", V::Boolean(_)) => Some(v.clone()),
        ("Int", V::Int(i)) if i32::try_from(*i).is_ok() => Some(v.clone()),
        ("Float", V::Float(_)) => Some(v.clone()),
        ("Float", V::Int(i)) => Some(V::Float(*i as f64)),
        ("String" | "ID" | "Bytes" | "BigInt" | "BigDecimal", V::String(_)) => Some(v.clone()),
        ("ID" | "BigInt" | "BigDecimal", V::Int(i)) => Some(V::String(i.to_string())),
        ("BigDecimal", V::Float(f)) => Some(V::String(f.to_string())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::schema::Schema;
    use crate::SDL;

    #[test]
    fn debug_form_matches_graph_node() {
        assert_eq!(V::String("abc".into()).debug(), r#"String("abc")"#);
        assert_eq!(V::Int(1).debug(), "Int(Number(1))");
        assert_eq!(
            V::Enum("nonexistent".into()).debug(),
            r#"Enum("nonexistent")"#
        );
        assert_eq!(V::Float(1.0).debug(), "Float(1.0)");
        let obj = V::Object(BTreeMap::from([
            ("foo".to_owned(), V::Int(1)),
            ("bar".to_owned(), V::List(vec![V::Boolean(true), V::Null])),
        ]));
        assert_eq!(
            obj.debug(),
            r#"Object({"bar": List([Boolean(true), Null]), "foo": Int(Number(1))})"#
        );
    }

    #[test]
    fn coercion_follows_graph_node() {
        let s = Schema::parse(SDL).unwrap();
        let t = |x: &str| Type::new(x).unwrap();
        assert_eq!(coerce(&s, &V::Int(5), &t("Int")), Some(V::Int(5)));
        assert_eq!(coerce(&s, &V::Int(1 << 40), &t("Int")), None);
        assert_eq!(coerce(&s, &V::String("5".into()), &t("Int")), None);
        assert_eq!(
            coerce(&s, &V::Int(5), &t("BigDecimal")),
            Some(V::String("5".into()))
        );
        assert_eq!(
            coerce(&s, &V::String("asc".into()), &t("OrderDirection")),
            Some(V::Enum("asc".into()))
        );
        assert_eq!(
            coerce(&s, &V::Enum("up".into()), &t("OrderDirection")),
            None
        );
        assert_eq!(coerce(&s, &V::Null, &t("ID!")), None);
        assert_eq!(coerce(&s, &V::Int(1), &t("[Int!]")), None);
        let bad_filter = V::Object(BTreeMap::from([("foo".to_owned(), V::Int(1))]));
        assert_eq!(coerce(&s, &bad_filter, &t("TokenHourData_filter")), None);
    }
}
