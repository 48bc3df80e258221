//! Gives every error of a request its `extensions.code`, by the phase that raised it: a
//! document that does not parse is `GRAPHQL_PARSE_FAILED`, one that does not validate (depth
//! and complexity limits included) `GRAPHQL_VALIDATION_FAILED`, and an execution error that no
//! resolver coded goes through [`crate::error::uncoded`], which makes it an
//! `INTERNAL_SERVER_ERROR`. async-graphql attaches no code to any of these.
//!
//! Two of async-graphql's messages are also made specific: a depth or complexity refusal names
//! the limit and its setting, and a fragment cycle (refused while parsing) is named. They are
//! recognized by their exact text; `tests::async_graphqls_texts_are_as_expected` fails the day
//! those texts change.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextValidation,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Response, ServerError, ServerResult, ValidationResult, Variables};

use super::cycles::fragment_cycle;
use super::Limits;
use crate::error::{code, ensure_code, uncoded};

/// The extension (one instance serves every request).
pub struct ErrorCodes {
    pub limits: Limits,
}

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodes {
            limits: self.limits,
        })
    }
}

/// How async-graphql's guard against runaway nesting, checked while parsing, starts its message.
const TOO_DEEP: &str = "The recursion depth of the query cannot be greater than";
/// async-graphql's depth-limit refusal.
const DEPTH: &str = "Query is nested too deep.";
/// async-graphql's complexity-limit refusal.
const COMPLEXITY: &str = "Query is too complex.";

#[async_trait::async_trait]
impl Extension for ErrorCodes {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        next.run(ctx, query, variables).await.map_err(|mut e| {
            if e.message.starts_with(TOO_DEEP) {
                explain_too_deep(&mut e, query);
            }
            ensure_code(&mut e, code::GRAPHQL_PARSE_FAILED);
            e
        })
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|mut errors| {
            for e in &mut errors {
                self.explain_limit(e);
                ensure_code(e, code::GRAPHQL_VALIDATION_FAILED);
            }
            errors
        })
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut resp = next.run(ctx, operation_name).await;
        for e in &mut resp.errors {
            uncoded(e);
        }
        resp
    }
}

impl ErrorCodes {
    /// Says which limit a too deep or too complex query hit.
    fn explain_limit(&self, e: &mut ServerError) {
        match e.message.as_str() {
            DEPTH => {
                e.message = format!(
                    "Query is nested too deep: at most {} levels of fields are allowed (MAX_DEPTH)",
                    self.limits.max_depth
                );
            }
            COMPLEXITY => {
                e.message = format!(
                    "Query is too complex: at most {} fields are allowed in one query \
                     (MAX_COMPLEXITY); split it",
                    self.limits.max_complexity
                );
            }
            _ => {}
        }
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
        let schema = Schema::build(Q, EmptyMutation, EmptySubscription)
            .extension(ErrorCodes {
                limits: Limits::default(),
            })
            .finish();
        let resp = schema.execute("{ n broken }").await;
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
