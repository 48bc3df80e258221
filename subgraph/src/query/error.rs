//! Query errors with graph-node's exact texts (graph/src/data/query/error.rs) and its JSON form:
//! `{"locations":[{"line":L,"column":C}],"message":"…"}`, with `locations` only for the errors
//! graph-node gives a position.

use std::fmt;

/// A position in the query text, 1-based; graph-node reports `0:0` for positions it takes from
/// its generated schema (argument definitions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loc {
    pub line: usize,
    pub column: usize,
}

impl Loc {
    /// The position graph-node gives errors about schema-defined arguments.
    pub const SCHEMA: Loc = Loc { line: 0, column: 0 };
}

impl From<async_graphql_parser::Pos> for Loc {
    fn from(p: async_graphql_parser::Pos) -> Loc {
        Loc {
            line: p.line,
            column: p.column,
        }
    }
}

/// Why a query was not answered.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryError {
    /// The query text does not parse.
    Parse {
        message: String,
        at: Option<Loc>,
    },
    OperationNameRequired,
    OperationNotFound(String),
    NotSupported(String),
    /// `Type `{0}` has no field `{1}``.
    UnknownField {
        at: Loc,
        parent: String,
        field: String,
    },
    /// `Invalid value provided for argument `{name}`: {value}` (value in graph-node's Debug form).
    InvalidArgument {
        at: Loc,
        name: String,
        value: String,
    },
    MissingArgument {
        at: Loc,
        name: String,
    },
    InvalidVariableType {
        at: Loc,
        name: String,
    },
    MissingVariable {
        at: Loc,
        name: String,
    },
    /// `first` or `skip` out of range.
    Range {
        arg: &'static str,
        max: u64,
        actual: i64,
    },
    /// `Failed to decode `{what}` value: `{message}``.
    ValueParse {
        what: String,
        message: String,
    },
    /// A `where` object with `or` next to column filters (graph-node refuses the mix).
    OrMixedWithColumns(Vec<String>),
    EmptySelectionSet(String),
    UndefinedFragment(String),
    CyclicalFragment(String),
    Unimplemented(String),
    /// What an executor will not answer, and why (its own text: graph-node has none).
    Refused(String),
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use QueryError::*;
        match self {
            Parse { message, .. } => f.write_str(message),
            OperationNameRequired => f.write_str("Operation name required"),
            OperationNotFound(s) => write!(f, "Operation name not found `{s}`"),
            NotSupported(s) => write!(f, "Not supported: {s}"),
            UnknownField { parent, field, .. } => {
                write!(f, "Type `{parent}` has no field `{field}`")
            }
            InvalidArgument { name, value, .. } => {
                write!(f, "Invalid value provided for argument `{name}`: {value}")
            }
            MissingArgument { name, .. } => {
                write!(f, "No value provided for required argument: `{name}`")
            }
            InvalidVariableType { name, .. } => {
                write!(f, "Variable `{name}` must have an input type")
            }
            MissingVariable { name, .. } => {
                write!(f, "No value provided for required variable `{name}`")
            }
            Range { arg, max, actual } => write!(
                f,
                "The `{arg}` argument must be between 0 and {max}, but is {actual}"
            ),
            ValueParse { what, message } => {
                write!(f, "Failed to decode `{what}` value: `{message}`")
            }
            OrMixedWithColumns(fields) => {
                let quoted: Vec<String> = fields.iter().map(|c| format!("'{c}'")).collect();
                write!(
                    f,
                    "Cannot mix column filters with 'or' operator at the same level. Found column \
                     filter(s) {} alongside 'or' operator.",
                    quoted.join(", ")
                )
            }
            EmptySelectionSet(t) => write!(f, "Selection set for type `{t}` is empty"),
            UndefinedFragment(name) => write!(f, "fragment `{name}` is not defined"),
            CyclicalFragment(name) => write!(f, "query has fragment cycle including `{name}`"),
            Unimplemented(what) => write!(f, "Feature `{what}` is not yet implemented"),
            Refused(why) => f.write_str(why),
        }
    }
}

impl QueryError {
    /// Where graph-node says the error is, if it says.
    pub fn location(&self) -> Option<Loc> {
        use QueryError::*;
        match self {
            Parse { at, .. } => *at,
            UnknownField { at, .. }
            | InvalidArgument { at, .. }
            | MissingArgument { at, .. }
            | InvalidVariableType { at, .. }
            | MissingVariable { at, .. } => Some(*at),
            _ => None,
        }
    }

    /// A decoding error for a `Bytes` value, with the `hex` crate's messages graph-node shows.
    pub fn bytes(message: impl Into<String>) -> QueryError {
        QueryError::ValueParse {
            what: "Bytes".to_owned(),
            message: message.into(),
        }
    }
}

/// Writes `{"errors":[…]}`: the answer to a query that failed (graph-node leaves `data` out).
pub fn errors_json(errors: &[QueryError]) -> String {
    let mut out = String::from("{\"errors\":[");
    for (i, e) in errors.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('{');
        if let Some(loc) = e.location() {
            out.push_str(&format!(
                "\"locations\":[{{\"line\":{},\"column\":{}}}],",
                loc.line, loc.column
            ));
        }
        out.push_str("\"message\":");
        out.push_str(&json_string(&e.to_string()));
        out.push('}');
    }
    out.push_str("]}");
    out
}

/// `s` as a JSON string literal.
pub fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_and_json_match_graph_node() {
        let e = QueryError::Range {
            arg: "first",
            max: 1000,
            actual: 10000,
        };
        assert_eq!(
            errors_json(&[e]),
            r#"{"errors":[{"message":"The `first` argument must be between 0 and 1000, but is 10000"}]}"#
        );
        let e = QueryError::UnknownField {
            at: Loc { line: 1, column: 3 },
            parent: "Query".into(),
            field: "foo".into(),
        };
        assert_eq!(
            errors_json(&[e]),
            r#"{"errors":[{"locations":[{"line":1,"column":3}],"message":"Type `Query` has no field `foo`"}]}"#
        );
    }
}
