//! The GraphQL API (SPEC §4), built without any HTTP types so that the server, the tests and
//! `tokenmirror schema` share one [`schema`] function.
//!
//! One module per feature: [`candles`] (bucketing and aggregation), [`tokens`] (metadata and the
//! candle resolvers), [`status`] (`syncStatus`); [`scalars`] holds the custom scalars; `answer`
//! gives answers the shape the GraphQL spec prescribes (field order, nulls for failed fields)
//! where async-graphql 7.2 does not.

mod answer;
pub mod candles;
pub mod scalars;
pub mod status;
pub mod tokens;

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use async_graphql::dataloader::DataLoader;
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextValidation,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{
    EmptyMutation, EmptySubscription, MergedObject, Response, Schema, ServerError, ServerResult,
    ValidationResult, Variables,
};

use crate::domain::{parse_address, TokenKey};
use crate::db::Db;
use crate::error::{code, ensure_code, ApiError};

/// The API's schema type.
pub type ApiSchema = Schema<Query, EmptyMutation, EmptySubscription>;

/// tokenmirror's API: token metadata, candles at any interval from 1h to 1w, and sync status.
#[derive(MergedObject, Default)]
pub struct Query(tokens::TokenQuery, status::StatusQuery);

/// Query limits (SPEC §4: configurable, defaults that let introspection through).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_depth: usize,
    pub max_complexity: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 20,
            max_complexity: 2000,
        }
    }
}

/// What resolvers share: the database and the configured networks.
#[derive(Clone)]
pub struct ApiContext {
    pub db: Db,
    /// Configured networks in `UPSTREAMS` order; the first is the default.
    networks: Arc<Vec<String>>,
    /// Tokens known to be in the mirror (a cache: a miss asks the database).
    known: Arc<RwLock<HashSet<TokenKey>>>,
}

impl ApiContext {
    /// `networks` are the configured ones, the default first.
    pub fn new(db: Db, networks: Vec<String>) -> ApiContext {
        ApiContext {
            db,
            networks: Arc::new(networks),
            known: Arc::default(),
        }
    }

    /// Checks `network` (or picks the default) for argument `arg`'s error message.
    pub(crate) async fn network(&self, network: Option<String>) -> Result<String, ApiError> {
        match network {
            None => self.networks.first().cloned().ok_or_else(|| {
                ApiError::bad_input(
                    "network: no default network is configured (UPSTREAMS is empty); pass one",
                )
            }),
            Some(n) if self.networks.contains(&n) => Ok(n),
            Some(n) => {
                // A network no longer configured still has its data served.
                let stored = crate::db::tokens::networks(self.db.conn()).await?;
                if stored.contains(&n) {
                    Ok(n)
                } else {
                    let mut known: Vec<String> = self.networks.to_vec();
                    for s in stored {
                        if !known.contains(&s) {
                            known.push(s);
                        }
                    }
                    Err(ApiError::bad_input(format!(
                        "network: {n:?} is not a network of this mirror; known networks: {}",
                        if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        }
                    )))
                }
            }
        }
    }

    /// Checks and lowercases an address argument.
    pub(crate) fn address(address: &str) -> Result<String, ApiError> {
        parse_address(address).map_err(|e| ApiError::bad_input(format!("address: {e}")))
    }

    /// True when the token is tracked or has metadata in the mirror.
    pub(crate) async fn in_mirror(&self, key: &TokenKey) -> Result<bool, ApiError> {
        if self.known.read().map(|k| k.contains(key)).unwrap_or(false) {
            return Ok(true);
        }
        let found = crate::db::tokens::is_known(self.db.conn(), &key.network, &key.address).await?;
        if found {
            if let Ok(mut k) = self.known.write() {
                k.insert(key.clone());
            }
        }
        Ok(found)
    }
}

/// Builds the schema. No HTTP types: the server, the tests and `tokenmirror schema` all call it.
pub fn schema(ctx: ApiContext, limits: Limits) -> ApiSchema {
    let loader = DataLoader::new(tokens::MetadataLoader(ctx.db.clone()), tokio::spawn);
    builder()
        .data(ctx)
        .data(loader)
        .data(LimitsData(limits))
        .limit_depth(limits.max_depth)
        // The parser's own nesting guard must sit above the depth limit, so that a deep query
        // is refused by the limit with its clear message (and the validation code).
        .limit_recursive_depth(limits.max_depth.saturating_mul(2).max(64))
        .limit_complexity(limits.max_complexity)
        .extension(ErrorCodes)
        .extension(AnswerShape)
        .finish()
}

fn builder() -> async_graphql::SchemaBuilder<Query, EmptyMutation, EmptySubscription> {
    Schema::build(Query::default(), EmptyMutation, EmptySubscription)
}

/// The API's SDL, as checked in at `schema.graphql`.
pub fn sdl() -> String {
    builder().finish().sdl()
}

/// Gives every error an `extensions.code`: async-graphql attaches none to parse and validation
/// errors, nor to input coercion errors raised while executing.
struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodes)
    }
}

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
                explain_limit(e, ctx);
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
            ensure_code(e, code::BAD_USER_INPUT);
        }
        resp
    }
}

/// How async-graphql's guard against runaway nesting, checked while parsing, starts its message.
const TOO_DEEP: &str = "The recursion depth of the query cannot be greater than";

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

/// A chain of fragments that spreads its first one again, if the document has one. Iterative
/// (a hostile document may chain tens of thousands of fragments) and linear in its size.
fn fragment_cycle(doc: &ExecutableDocument) -> Option<Vec<String>> {
    use async_graphql::parser::types::{Selection, SelectionSet};
    use std::collections::HashMap;

    /// The fragments a selection set spreads, at any depth.
    fn spreads(set: &SelectionSet) -> Vec<&str> {
        let mut out = Vec::new();
        let mut sets = vec![set];
        while let Some(set) = sets.pop() {
            for s in &set.items {
                match &s.node {
                    Selection::Field(f) => sets.push(&f.node.selection_set.node),
                    Selection::FragmentSpread(f) => out.push(f.node.fragment_name.node.as_str()),
                    Selection::InlineFragment(f) => sets.push(&f.node.selection_set.node),
                }
            }
        }
        out
    }

    let edges: HashMap<&str, Vec<&str>> = doc
        .fragments
        .iter()
        .map(|(name, f)| (name.as_str(), spreads(&f.node.selection_set.node)))
        .collect();
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        OnPath,
        Done,
    }
    let mut marks: HashMap<&str, Mark> = HashMap::new();
    for root in edges.keys() {
        if marks.contains_key(root) {
            continue;
        }
        // Depth-first, with the path as an explicit stack of (fragment, next edge).
        let mut path: Vec<(&str, usize)> = vec![(root, 0)];
        marks.insert(root, Mark::OnPath);
        while let Some((node, next)) = path.last_mut() {
            let node = *node;
            let Some(&child) = edges.get(node).and_then(|e| e.get(*next)) else {
                marks.insert(node, Mark::Done);
                path.pop();
                continue;
            };
            *next += 1;
            match marks.get(child) {
                Some(Mark::OnPath) => {
                    let from = path.iter().position(|(n, _)| *n == child).unwrap_or(0);
                    let mut cycle: Vec<String> =
                        path[from..].iter().map(|(n, _)| (*n).to_owned()).collect();
                    cycle.push(child.to_owned());
                    return Some(cycle);
                }
                Some(Mark::Done) => {}
                // Spreading a fragment that is not defined is another error.
                None if !edges.contains_key(child) => {}
                None => {
                    marks.insert(child, Mark::OnPath);
                    path.push((child, 0));
                }
            }
        }
    }
    None
}

/// Gives answers the shape the GraphQL spec prescribes (see [`answer`]): keeps each request's
/// parsed document and variables for the execute hook.
struct AnswerShape;

impl ExtensionFactory for AnswerShape {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(AnswerShapeExtension::default())
    }
}

#[derive(Default)]
struct AnswerShapeExtension {
    /// The request's document and variables (for `@skip`/`@include`).
    doc: std::sync::Mutex<Option<(ExecutableDocument, Variables)>>,
}

#[async_trait::async_trait]
impl Extension for AnswerShapeExtension {
    /// async-graphql 7.2 evaluates `@skip(if: $v)`/`@include(if: $v)` without `$v`'s default
    /// value: a variable the request leaves out gets its default here, as the spec says.
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: async_graphql::Request,
        next: async_graphql::extensions::NextPrepareRequest<'_>,
    ) -> ServerResult<async_graphql::Request> {
        if request.query.contains('@') && request.query.contains('=') {
            fill_variable_defaults(&mut request);
        }
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        if let Ok(mut slot) = self.doc.lock() {
            *slot = Some((doc.clone(), variables.clone()));
        }
        Ok(doc)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut resp = next.run(ctx, operation_name).await;
        let doc = self.doc.lock().ok().and_then(|mut slot| slot.take());
        if let Some((doc, variables)) = doc {
            answer::complete(
                &mut resp.data,
                &resp.errors,
                &doc,
                operation_name,
                &variables,
            );
        }
        resp
    }
}

/// The operation of `doc` that a request naming `operation_name` runs, as async-graphql picks
/// it: the only one, or the one named.
pub fn selected_operation<'d>(
    doc: &'d ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<&'d async_graphql::parser::types::OperationDefinition> {
    use async_graphql::parser::types::DocumentOperations;
    match (&doc.operations, operation_name) {
        (DocumentOperations::Single(op), _) => Some(&op.node),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| &op.node),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            ops.values().next().map(|op| &op.node)
        }
        _ => None,
    }
}

/// Gives every variable of the request's operation that the request leaves out its default.
fn fill_variable_defaults(request: &mut async_graphql::Request) {
    let Ok(doc) = async_graphql::parser::parse_query(&request.query) else {
        return; // the parse step reports it
    };
    let Some(op) = selected_operation(&doc, request.operation_name.as_deref()) else {
        return;
    };
    for var in &op.variable_definitions {
        let name = &var.node.name.node;
        if let Some(default) = &var.node.default_value {
            if !request.variables.contains_key(name) {
                request.variables.insert(name.clone(), default.node.clone());
            }
        }
    }
}

/// Says which limit a too deep or too complex query hit.
fn explain_limit(e: &mut ServerError, ctx: &ExtensionContext<'_>) {
    let limits = ctx.data_opt::<LimitsData>();
    let (depth, complexity) = limits.map_or((None, None), |l| {
        (Some(l.0.max_depth), Some(l.0.max_complexity))
    });
    match e.message.as_str() {
        "Query is nested too deep." => {
            e.message = format!(
                "Query is nested too deep: at most {} levels of fields are allowed (MAX_DEPTH)",
                depth.map_or("the configured".to_owned(), |d| d.to_string())
            );
        }
        "Query is too complex." => {
            e.message = format!(
                "Query is too complex: at most {} fields are allowed in one query (MAX_COMPLEXITY); split it",
                complexity.map_or("the configured".to_owned(), |c| c.to_string())
            );
        }
        _ => {}
    }
}

/// The limits, as schema data for [`explain_limit`].
struct LimitsData(Limits);

#[cfg(test)]
mod tests {
    use super::*;

    fn cycle_of(query: &str) -> Option<Vec<String>> {
        fragment_cycle(&async_graphql::parser::parse_query(query).unwrap())
    }

    #[test]
    fn fragment_cycles_are_found_without_recursion() {
        let cycle = cycle_of("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }")
            .expect("a cycle");
        assert_eq!(cycle.len(), 3, "{cycle:?}");
        assert_eq!(cycle.first(), cycle.last());
        assert_eq!(
            cycle_of("{ ...A } fragment A on Query { x { ...B } } fragment B on Query { y }"),
            None
        );
        // A chain of 50,000 fragments, closed into a cycle: found, without a deep stack.
        let n = 50_000;
        let mut q = String::from("{ ...f0 }");
        for i in 0..n {
            q.push_str(&format!(
                " fragment f{i} on Query {{ ...f{} }}",
                (i + 1) % n
            ));
        }
        let cycle = cycle_of(&q).expect("a cycle");
        assert_eq!(cycle.len(), n + 1);
        assert_eq!(cycle.first(), cycle.last());
    }
}
