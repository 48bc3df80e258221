//! Building the schema: the root query type, the limits, the extensions. No HTTP types: the
//! server, the tests and `tokenmirror schema` all call [`schema`].

use async_graphql::dataloader::DataLoader;
use async_graphql::{EmptyMutation, MergedObject, Schema};

use super::context::ApiContext;
use super::subscriptions::{Live, SubscriptionRoot};
use super::{status, tokens};

/// The API's schema type.
pub type ApiSchema = Schema<Query, EmptyMutation, SubscriptionRoot>;

/// tokenmirror's API: token metadata, candles at any interval from 1h to 1w, and sync status.
#[derive(MergedObject, Default)]
pub struct Query(tokens::TokenQuery, status::StatusQuery);

/// Query limits: configurable, with defaults that let introspection through.
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

/// Builds the schema over `ctx`, enforcing `limits`; `live` holds its subscriptions.
pub fn schema(ctx: ApiContext, limits: Limits, live: Live) -> ApiSchema {
    let loader = DataLoader::new(tokens::MetadataLoader(ctx.db.clone()), tokio::spawn);
    builder()
        .data(ctx)
        .data(loader)
        .data(live)
        .limit_depth(limits.max_depth)
        // The parser's own nesting guard must sit above the depth limit, so that a deep query
        // is refused by the limit with its clear message (and the validation code).
        .limit_recursive_depth(limits.max_depth.saturating_mul(2).max(64))
        .limit_complexity(limits.max_complexity)
        .finish()
}

fn builder() -> async_graphql::SchemaBuilder<Query, EmptyMutation, SubscriptionRoot> {
    Schema::build(Query::default(), EmptyMutation, SubscriptionRoot)
}

/// The API's SDL, as checked in at `schema.graphql`.
pub fn sdl() -> String {
    builder().finish().sdl()
}
