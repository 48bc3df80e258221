//! Gives every error of an answer its `extensions.code`, by the phase that raised it: a
//! document that does not parse is `GRAPHQL_PARSE_FAILED`, one that does not validate (depth
//! and complexity limits included, and a request that names no operation of it)
//! `GRAPHQL_VALIDATION_FAILED`, and an execution error that no resolver coded goes through
//! [`crate::error::uncoded`], which makes it an `INTERNAL_SERVER_ERROR`. async-graphql attaches
//! no code to any of these.
//!
//! This runs on the finished answer (the HTTP and WebSocket layers call it), not as an
//! async-graphql extension: with any extension installed, async-graphql resolves every field
//! through the extension chain (building a `ResolveInfo` from the registry per field), which cost
//! a tenth of a week of hourly candles' miss path.
//!
//! Two of async-graphql's messages are also made specific: a depth or complexity refusal names
//! the limit and its setting, and a fragment cycle (refused while parsing) is named. They are
//! recognized by their exact text; `tests::async_graphqls_texts_are_as_expected` fails the day
//! those texts change.

use async_graphql::ServerError;

use super::cycles::fragment_cycle;
use super::Limits;
use crate::error::{code, ensure_code, uncoded};

/// How async-graphql's guard against runaway nesting, checked while parsing, starts its message.
const TOO_DEEP: &str = "The recursion depth of the query cannot be greater than";
/// async-graphql's depth-limit refusal.
const DEPTH: &str = "Query is nested too deep.";
/// async-graphql's complexity-limit refusal.
const COMPLEXITY: &str = "Query is too complex.";

/// Codes the errors of a request whose document did not parse.
pub fn parse_failed(errors: &mut [ServerError], query: &str) {
    for e in errors {
        if e.message.starts_with(TOO_DEEP) {
            explain_too_deep(e, query);
        }
        ensure_code(e, code::GRAPHQL_PARSE_FAILED);
    }
}

/// Codes the errors of an answer to a document that parsed: those without a path never reached
/// execution (validation, the choice of the operation); the others are execution errors.
pub fn answered(errors: &mut [ServerError], query: &str, limits: &Limits) {
    for e in errors {
        if !e.path.is_empty() {
            uncoded(e);
        } else if e.message.starts_with(TOO_DEEP) {
            explain_too_deep(e, query);
        } else {
            explain_limit(e, limits);
            ensure_code(e, code::GRAPHQL_VALIDATION_FAILED);
        }
    }
}

/// Says which limit a too deep or too complex query hit.
fn explain_limit(e: &mut ServerError, limits: &Limits) {
    match e.message.as_str() {
        DEPTH => {
            e.message = format!(
                "Query is nested too deep: at most {} levels of fields are allowed (MAX_DEPTH)",
                limits.max_depth
            );
        }
        COMPLEXITY => {
            e.message = format!(
                "Query is too complex: at most {} fields are allowed in one query \
                 (MAX_COMPLEXITY); split it",
                limits.max_complexity
            );
        }
        _ => {}
    }
}

/// A document that parses but nests too deep, or whose fragments spread each other in a cycle,
/// fails validation, not parsing; a cycle is named.
fn explain_too_deep(e: &mut ServerError, query: &str) {
    let Ok(doc) = async_graphql::parser::parse_query(query) else {
        return;
    };
    if let Some(cycle) = fragment_cycle(&doc) {
        // A long cycle is named by its first few steps.
        let mut via: Vec<String> = cycle.iter().take(5).map(|n| format!("\"{n}\"")).collect();
        if cycle.len() > 5 {
            via.push(format!("… ({} fragments)", cycle.len() - 1));
        }
        e.message = format!(
            "Cannot spread fragment \"{}\" within itself (via {}): fragments must not form a cycle",
            cycle[0],
            via.join(" → ")
        );
    }
    ensure_code(e, code::GRAPHQL_VALIDATION_FAILED);
}

#[cfg(test)]
mod tests {
    use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};

    use super::*;

    struct Q;

    #[Object]
    impl Q {
        async fn a(&self) -> Option<Q> {
            Some(Q)
        }
        async fn n(&self) -> i32 {
            1
        }
        /// A resolver that fails without a code, as a bug or an unexpected library error would.
        async fn broken(&self) -> async_graphql::Result<Option<i32>> {
            Err("pool timed out connecting to 10.0.0.5".into())
        }
    }

    /// An execution error nobody coded is an INTERNAL_SERVER_ERROR with a generic message (its
    /// text goes to the log), and the rest of the answer stands.
    #[tokio::test]
    async fn a_resolver_error_without_a_code_is_internal() {
        let schema = Schema::build(Q, EmptyMutation, EmptySubscription).finish();
        let mut resp = schema.execute("{ n broken }").await;
        answered(&mut resp.errors, "{ n broken }", &Limits::default());
        let e = &resp.errors[0];
        assert!(
            e.message.starts_with("internal server error (request id"),
            "{}",
            e.message
        );
        assert!(!e.message.contains("10.0.0.5"));
        let code = e.extensions.as_ref().and_then(|x| x.get("code")).cloned();
        assert_eq!(
            code,
            Some(async_graphql::Value::String(
                code::INTERNAL_SERVER_ERROR.into()
            ))
        );
        assert_eq!(
            resp.data.into_json().unwrap(),
            serde_json::json!({"n": 1, "broken": null})
        );
    }

    /// The texts this module recognizes are still the ones async-graphql writes.
    #[tokio::test]
    async fn async_graphqls_texts_are_as_expected() {
        let schema = Schema::build(Q, EmptyMutation, EmptySubscription)
            .limit_depth(2)
            .limit_complexity(3)
            .limit_recursive_depth(8)
            .finish();
        let first = |q: &str| {
            let schema = schema.clone();
            let q = q.to_owned();
            async move { schema.execute(q).await.errors[0].message.clone() }
        };
        assert_eq!(first("{ a { a { n } } }").await, DEPTH);
        assert_eq!(first("{ n n2: n n3: n n4: n }").await, COMPLEXITY);
        let deep = format!("{}n{}", "{ a ".repeat(20), " }".repeat(20));
        assert!(first(&deep).await.starts_with(TOO_DEEP));
    }
}
