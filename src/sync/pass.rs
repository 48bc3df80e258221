//! One sync pass: per network, `_meta` first (its block pins every later query of the
//! pass), then the metadata of all tracked tokens in one query per 100, then each token's hours
//! page by page. Each page is written in one transaction with the token's sync state, so a kill
//! at any moment leaves whole pages and a cursor that never runs ahead of the rows.

use std::sync::Arc;
use std::time::Instant;

use cynic::QueryBuilder;
use futures::stream::{self, StreamExt};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::client::{ClientBuildError, FetchError, UpstreamClient};
use super::plan::{plan, Cover, FetchRange};
use super::queries::{
    Bytes, HoursQuery, HoursVariables, Meta, MetaAfterQuery, MetaAfterVariables, MetaQuery,
    TokensQuery, TokensVariables,
};
use super::report::{NetworkReport, PassReport, TokenReport};
use super::settings::SyncSettings;
use super::transform::{self, InvalidRow};
use crate::config::Sources;
use crate::db::entity::upstream_meta;
use crate::db::hours::{self, Coverage, HourPage};
use crate::db::state::{self, PassResult};
use crate::db::{tokens, Db};
use crate::domain::TokenKey;
use crate::feed::{Change, Feed};
use crate::metrics::Metrics;

/// Rows per upstream page: the most graph-node allows.
pub const PAGE_SIZE: i32 = 1000;
/// Tokens per metadata query.
const METADATA_CHUNK: usize = 100;
/// `periodStartUnix_lt` for "no upper bound" (GraphQL `Int` is 32-bit).
const NO_END: i64 = i32::MAX as i64;

/// Why one token's pass failed.
#[derive(Debug, thiserror::Error)]
enum TokenError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Invalid(#[from] InvalidRow),
    #[error("database error: {0}")]
    Db(#[from] sea_orm::DbErr),
}

impl TokenError {
    /// The metric label: worth retrying soon, or not before something changes.
    fn kind(&self) -> &'static str {
        match self {
            TokenError::Fetch(e) => fetch_kind(e),
            TokenError::Db(_) => "transient",
            TokenError::Invalid(_) => "permanent",
        }
    }
}

fn fetch_kind(e: &FetchError) -> &'static str {
    match e {
        FetchError::Transient(_) | FetchError::Cancelled => "transient",
        FetchError::Permanent(_) => "permanent",
    }
}

/// Why a token's metadata is missing after the metadata step.
#[derive(Debug, Clone)]
enum MetaProblem {
    /// The upstream has no such token: its hours are not fetched.
    Missing(String),
    /// The metadata could not be fetched or stored this time; its hours still are.
    Failed(String),
}

impl MetaProblem {
    fn message(&self) -> &str {
        match self {
            MetaProblem::Missing(m) | MetaProblem::Failed(m) => m,
        }
    }
}

/// The sync of every configured network.
pub struct Syncer {
    db: Db,
    networks: Vec<(UpstreamClient, Vec<String>)>,
    settings: SyncSettings,
    metrics: Arc<Metrics>,
    /// Every committed write goes through it.
    feed: Feed,
}

impl Syncer {
    /// The syncer of every network of `sources` that has tokens; fails when an upstream's
    /// HTTP client cannot be built.
    pub fn new(
        db: Db,
        sources: &Sources,
        settings: SyncSettings,
        metrics: Arc<Metrics>,
        feed: Feed,
    ) -> Result<Syncer, ClientBuildError> {
        let mut networks = Vec::new();
        for u in &sources.upstreams {
            let tokens: Vec<String> = sources
                .tokens
                .iter()
                .filter(|t| t.network == u.network)
                .map(|t| t.address.clone())
                .collect();
            if !tokens.is_empty() {
                networks.push((UpstreamClient::new(u.clone(), settings.retry)?, tokens));
            }
        }
        Ok(Syncer {
            db,
            networks,
            settings,
            metrics,
            feed,
        })
    }

    /// Runs one pass over every network at once; a failing network or token never stops the
    /// others. Returns what it did.
    pub async fn sync_once(&self, shutdown: &CancellationToken) -> PassReport {
        let passes = self.networks.iter().map(|(client, tokens)| {
            let span = tracing::info_span!("sync_pass", network = %client.network());
            async move {
                let pass = NetworkPass {
                    syncer: self,
                    client,
                    shutdown,
                };
                let report = pass.run(tokens).await;
                // Every status of this pass is written: say so (subscribers of syncStatus).
                let done = Change::PassDone {
                    network: client.network().to_owned(),
                };
                let said = self
                    .feed
                    .write(&self.db, done, |tx| async move { Ok(tx) })
                    .await;
                if let Err(e) = said {
                    tracing::warn!(error = %e, "could not record the end of the pass");
                }
                report
            }
            .instrument(span)
        });
        PassReport {
            networks: futures::future::join_all(passes).await,
        }
    }
}

/// One network's part of a pass.
struct NetworkPass<'a> {
    syncer: &'a Syncer,
    client: &'a UpstreamClient,
    shutdown: &'a CancellationToken,
}

impl NetworkPass<'_> {
    fn network(&self) -> &str {
        self.client.network()
    }

    async fn run(&self, tokens: &[String]) -> NetworkReport {
        let started = Instant::now();
        let mut report = NetworkReport {
            network: self.network().to_owned(),
            block: None,
            tokens: Vec::new(),
        };
        let (block, head) = match self.meta().await {
            Ok(b) => b,
            Err(FetchError::Cancelled) => {
                report.tokens = tokens
                    .iter()
                    .map(|address| TokenReport {
                        address: address.clone(),
                        interrupted: true,
                        ..Default::default()
                    })
                    .collect();
                return report;
            }
            Err(e) => {
                self.count_error(fetch_kind(&e));
                let msg = format!("upstream _meta failed: {e}");
                for address in tokens {
                    report.tokens.push(
                        self.finish(address, TokenReport::default(), Err(msg.clone()))
                            .await,
                    );
                }
                return report;
            }
        };
        report.block = Some(block);
        let meta_problems = self.metadata(tokens, block).await;
        let jobs: Vec<_> = tokens
            .iter()
            .map(|address| {
                let meta_error = meta_problems
                    .iter()
                    .find(|(a, _)| a == address)
                    .map(|(_, e)| e.clone());
                let span = tracing::info_span!("sync_token", address = %address);
                let address = address.clone();
                async move { self.token(&address, block, head, meta_error).await }.instrument(span)
            })
            .collect();
        let per_token: Vec<TokenReport> = stream::iter(jobs)
            .buffer_unordered(self.syncer.settings.token_concurrency.max(1))
            .collect()
            .await;
        report.tokens = per_token;
        report.tokens.sort_by(|a, b| a.address.cmp(&b.address));
        tracing::info!(
            block,
            rows = report
                .tokens
                .iter()
                .map(|t| t.outcome.inserted + t.outcome.updated)
                .sum::<u64>(),
            failed = report.tokens.iter().filter(|t| t.error.is_some()).count(),
            ms = started.elapsed().as_millis() as u64,
            "pass finished"
        );
        report
    }

    /// Reads `_meta` — at or after the block of the previous pass, so that the mirror never
    /// moves back — stores it, and returns the block to pin the pass to and the head's time.
    async fn meta(&self) -> Result<(i64, i64), FetchError> {
        let previous = state::upstream_meta(self.syncer.db.conn(), self.network())
            .await
            .ok()
            .flatten()
            .map(|m| m.block_number);
        let meta: Option<Meta> = match previous {
            Some(block) => {
                let op = MetaAfterQuery::build(MetaAfterVariables {
                    block: clamp_i32(block),
                });
                self.client.run(&op, self.shutdown).await?.meta
            }
            None => {
                self.client
                    .run(&MetaQuery::build(()), self.shutdown)
                    .await?
                    .meta
            }
        };
        let meta =
            meta.ok_or_else(|| FetchError::Permanent("the answer has no _meta".to_owned()))?;
        let now = crate::db::now();
        let block = i64::from(meta.block.number);
        let head = meta.block.timestamp.map_or(now.timestamp(), i64::from);
        let row = upstream_meta::Model {
            network: self.network().to_owned(),
            block_number: block,
            block_hash: meta.block.hash.map(|h| h.0),
            block_timestamp: meta.block.timestamp.map(i64::from),
            deployment: meta.deployment,
            has_indexing_errors: meta.has_indexing_errors,
            fetched_at: now,
        };
        let change = Change::Status {
            network: self.network().to_owned(),
            address: None,
        };
        let saved = self
            .syncer
            .feed
            .write(&self.syncer.db, change, |tx| async move {
                state::save_upstream_meta(&tx, &row).await?;
                Ok(tx)
            })
            .await;
        if let Err(e) = saved {
            tracing::warn!(error = %e, "could not store the upstream's _meta");
        }
        self.syncer
            .metrics
            .set_upstream(self.network(), block, (now.timestamp() - head).max(0));
        tracing::info!(block, head, "upstream head");
        Ok((block, head))
    }

    /// Fetches and stores the metadata of `tokens`; returns the tokens it failed for, and why.
    async fn metadata(&self, tokens: &[String], block: i64) -> Vec<(String, MetaProblem)> {
        let mut failed = Vec::new();
        for chunk in tokens.chunks(METADATA_CHUNK) {
            let op = TokensQuery::build(TokensVariables {
                ids: Some(chunk.iter().map(|a| Bytes(a.clone())).collect()),
                block: block as i32,
                first: METADATA_CHUNK as i32,
            });
            let answer = match self.client.run(&op, self.shutdown).await {
                Ok(a) => a,
                Err(e) => {
                    if !matches!(e, FetchError::Cancelled) {
                        self.count_error(fetch_kind(&e));
                    }
                    let problem = MetaProblem::Failed(format!("token metadata: {e}"));
                    failed.extend(chunk.iter().map(|a| (a.clone(), problem.clone())));
                    continue;
                }
            };
            let mut valid = Vec::new();
            for t in answer.tokens {
                match transform::token(t) {
                    Ok(m) if chunk.contains(&m.address) => valid.push(m),
                    Ok(m) => {
                        tracing::warn!(address = %m.address, "upstream returned a token not asked for")
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "invalid token metadata");
                        if let Some(a) = e.token.as_ref().filter(|a| chunk.contains(a)) {
                            failed.push((a.clone(), MetaProblem::Failed(e.to_string())));
                        }
                    }
                }
            }
            for address in chunk {
                let seen = valid.iter().any(|m| &m.address == address)
                    || failed.iter().any(|(a, _)| a == address);
                if !seen {
                    failed.push((
                        address.clone(),
                        MetaProblem::Missing(format!("token {address} does not exist upstream")),
                    ));
                }
            }
            let change = Change::Metadata {
                network: self.network().to_owned(),
                addresses: valid.iter().map(|m| m.address.clone()).collect(),
            };
            let network = self.network();
            let valid = &valid;
            let stored = self
                .syncer
                .feed
                .write(&self.syncer.db, change, |tx| async move {
                    tokens::upsert_metadata(&tx, network, valid, crate::db::now()).await?;
                    Ok(tx)
                })
                .await;
            if let Err(e) = stored {
                let problem = MetaProblem::Failed(format!("storing token metadata: {e}"));
                failed.extend(chunk.iter().map(|a| (a.clone(), problem.clone())));
            }
        }
        failed
    }

    /// Syncs one token's hours and records how it went.
    async fn token(
        &self,
        address: &str,
        block: i64,
        head: i64,
        meta_error: Option<MetaProblem>,
    ) -> TokenReport {
        let started = Instant::now();
        let mut report = TokenReport {
            address: address.to_owned(),
            ..Default::default()
        };
        if let Some(MetaProblem::Missing(e)) = &meta_error {
            return self.finish(address, report, Err(e.clone())).await;
        }
        let result = self.hours(address, block, head, &mut report).await;
        let result = match (result, meta_error) {
            (Err(TokenError::Fetch(FetchError::Cancelled)), _) => {
                report.interrupted = true;
                tracing::info!("stopped between pages by the shutdown signal");
                return report;
            }
            (Err(e), _) => {
                self.count_error(e.kind());
                tracing::error!(error = %e, "token sync failed; retrying next pass");
                Err(e.to_string())
            }
            (Ok(()), Some(meta_error)) => Err(meta_error.message().to_owned()),
            (Ok(()), None) => Ok(()),
        };
        tracing::info!(
            inserted = report.outcome.inserted,
            updated = report.outcome.updated,
            deleted = report.outcome.deleted,
            pages = report.pages,
            ms = started.elapsed().as_millis() as u64,
            "token synced"
        );
        self.finish(address, report, result).await
    }

    /// Stores the token's pass result in its sync state.
    async fn finish(
        &self,
        address: &str,
        mut report: TokenReport,
        result: Result<(), String>,
    ) -> TokenReport {
        let now = crate::db::now();
        let outcome = match &result {
            Ok(()) => PassResult::Success,
            Err(e) => PassResult::Failure(e),
        };
        let network = self.network();
        let change = Change::Status {
            network: network.to_owned(),
            address: Some(address.to_owned()),
        };
        let recorded = self
            .syncer
            .feed
            .write(&self.syncer.db, change, |tx| async move {
                state::record_pass(&tx, network, address, now, outcome).await?;
                Ok(tx)
            })
            .await;
        // A result the database will not take (a full disk…) is still shown by this process.
        let failure = match (&recorded, &result) {
            (Err(_), Err(error)) => Some(crate::feed::Unrecorded {
                error: error.clone(),
                at: now,
            }),
            _ => None,
        };
        if let Err(e) = recorded {
            tracing::warn!(error = %e, "could not record the pass in the sync state");
        }
        self.syncer.feed.unrecorded(network, address, failure);
        report.address = address.to_owned();
        report.error = result.err();
        report
    }

    /// Fetches and writes every range the token needs this pass.
    async fn hours(
        &self,
        address: &str,
        block: i64,
        head: i64,
        report: &mut TokenReport,
    ) -> Result<(), TokenError> {
        let start = self.syncer.settings.backfill.start_hour(head);
        let saved = state::sync_state(self.syncer.db.conn(), self.network(), address).await?;
        let ranges = plan(start, saved.as_ref(), self.syncer.settings.overlap);
        let last = ranges.len().saturating_sub(1);
        for (i, range) in ranges.into_iter().enumerate() {
            // The pass's last page records that every hour up to the head is now known.
            let synced_head = (i == last).then_some(head);
            self.fetch_range(address, block, range, synced_head, report)
                .await?;
        }
        Ok(())
    }

    /// Pages through `range`, writing each page in its own transaction; the last page records
    /// `synced_head` when given.
    async fn fetch_range(
        &self,
        address: &str,
        block: i64,
        range: FetchRange,
        synced_head: Option<i64>,
        report: &mut TokenReport,
    ) -> Result<(), TokenError> {
        let until = range.until.unwrap_or(NO_END);
        let mut cursor = range.from;
        let mut first_page = true;
        loop {
            if self.shutdown.is_cancelled() {
                return Err(FetchError::Cancelled.into());
            }
            let op = HoursQuery::build(HoursVariables {
                token: address.to_owned(),
                from: clamp_i32(cursor),
                until: clamp_i32(until),
                block: clamp_i32(block),
                first: PAGE_SIZE,
            });
            let fetch_started = Instant::now();
            let answer = self.client.run(&op, self.shutdown).await?;
            let fetched = fetch_started.elapsed();
            if answer.token_hour_datas.len() > PAGE_SIZE as usize {
                return Err(InvalidRow {
                    token: Some(address.to_owned()),
                    what: format!("tokenHourDatas page of {address}"),
                    reason: format!(
                        "{} rows, more than the {PAGE_SIZE} asked for",
                        answer.token_hour_datas.len()
                    ),
                }
                .into());
            }
            let rows = transform::hour_rows(address, cursor, until, answer.token_hour_datas)?;
            let checked = fetch_started.elapsed();
            let full = rows.len() == PAGE_SIZE as usize;
            let last_hour = match (full, range.until) {
                (true, _) => rows.last().map(|r| r.period_start_unix),
                (false, Some(u)) => Some(u - 1),
                (false, None) => None,
            };
            let coverage = match range.covers {
                Cover::OnFirstPage(c) if first_page => Coverage::From(c),
                Cover::RestartOnFirstPage(c) if first_page => Coverage::RestartAt(c),
                Cover::OnLastPage(c) if !full => Coverage::From(c),
                _ => Coverage::Unchanged,
            };
            let page = HourPage {
                network: self.network(),
                address,
                first_hour: cursor,
                last_hour,
                rows: &rows,
                coverage,
                synced_head: if full { None } else { synced_head },
            };
            let tx = self.syncer.db.begin_write().await?;
            let began = fetch_started.elapsed();
            let outcome = hours::write_page(&tx, &page).await?;
            let change = Change::Hours {
                token: TokenKey::new(self.network(), address),
                first_hour: cursor,
                last_hour,
            };
            let written = fetch_started.elapsed();
            self.syncer.feed.commit(tx, change).await?;
            let committed = fetch_started.elapsed();
            // Where a page's time goes (the profile in the README's "Sync speed" comes from these).
            tracing::debug!(
                rows = rows.len(),
                fetch_us = fetched.as_micros() as u64,
                check_us = (checked - fetched).as_micros() as u64,
                turn_us = (began - checked).as_micros() as u64,
                write_us = (written - began).as_micros() as u64,
                commit_us = (committed - written).as_micros() as u64,
                "page stored"
            );
            report.pages += 1;
            report.outcome.inserted += outcome.inserted;
            report.outcome.updated += outcome.updated;
            report.outcome.deleted += outcome.deleted;
            self.syncer
                .metrics
                .add_rows_synced(self.network(), outcome.inserted + outcome.updated);
            match rows.last() {
                Some(last) if full => cursor = last.period_start_unix + 3600,
                _ => return Ok(()),
            }
            first_page = false;
        }
    }

    /// Counts one failed token, metadata chunk or `_meta` read (after its retries).
    fn count_error(&self, kind: &str) {
        self.syncer.metrics.add_sync_error(self.network(), kind);
    }
}

fn clamp_i32(v: i64) -> i32 {
    v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}
