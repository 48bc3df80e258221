//! What each subcommand does. Every command returns an exit code: 0 success, 1 failure,
//! 2 a configuration that cannot work.

use std::process::ExitCode;

use crate::app::{self, ServerSettings, Shared};
use anyhow::Context as _;
use tokenmirror_simulator::{SimConfig, Simulator};

use crate::config::{
    Cli, Command, DbArgs, DemoArgs, Endpoint, ServeArgs, Sources, SyncCommandArgs, Upstream,
    UpstreamArgs,
};
use crate::db::Db;
use crate::domain::{Backfill, TokenKey};
use crate::sync::worker::SyncLock;
use crate::sync::SyncSettings;
use crate::{api, shutdown};

/// Exit code for a configuration error (as clap uses for bad flags).
pub const EXIT_CONFIG: u8 = 2;

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Migrate(args) => report(migrate(&args).await),
        Command::Schema => {
            print!("{}", api::sdl());
            ExitCode::SUCCESS
        }
        Command::Serve(args) => match resolve(&args.upstream) {
            Ok(sources) => report(serve(&args, sources).await),
            Err(code) => code,
        },
        Command::Sync(args) => match resolve(&args.upstream) {
            Ok(sources) => sync(&args, sources).await,
            Err(code) => code,
        },
        Command::Simulate(args) => report(
            tokenmirror_simulator::run(args.listen, &SimConfig::from(&args.sim), async {
                shutdown::on_signal().cancelled().await
            })
            .await,
        ),
        Command::Demo(args) => report(demo(&args).await),
    }
}

fn resolve(args: &UpstreamArgs) -> Result<Sources, ExitCode> {
    args.resolve().map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(EXIT_CONFIG)
    })
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `tokenmirror migrate`.
pub async fn migrate(args: &DbArgs) -> anyhow::Result<()> {
    let db = open(args).await?;
    db.close().await?;
    Ok(())
}

/// Connects and applies pending migrations.
pub async fn open(args: &DbArgs) -> anyhow::Result<Db> {
    let db = Db::connect(&args.database_url)
        .await
        .with_context(|| format!("cannot open the database {}", args.database_url))?;
    db.migrate()
        .await
        .with_context(|| format!("cannot migrate the database {}", args.database_url))?;
    tracing::info!(database = %args.database_url, "database ready");
    Ok(db)
}

/// `tokenmirror serve`: migrations, then the API, the change feed and (unless `--no-sync`) the
/// sync loop until a shutdown signal.
pub async fn serve(args: &ServeArgs, sources: Sources) -> anyhow::Result<()> {
    // Settings first: a bad PERSISTED_QUERIES_FILE stops the start before anything opens.
    let settings = ServerSettings {
        overlap: args.sync.overlap,
        ..ServerSettings::try_from(&args.api)?
    };
    let shutdown = shutdown::on_signal();
    let mut shared = Shared::new(open(&args.db).await?);
    if !args.database_read_urls.is_empty() {
        if args.db.database_url.is_sqlite() {
            anyhow::bail!("DATABASE_READ_URLS needs DATABASE_URL on PostgreSQL (standbys replicate a PostgreSQL primary)");
        }
        let replicas = crate::db::replicas::Replicas::connect(
            shared.db.conn().clone(),
            &args.database_read_urls,
            args.max_replica_lag,
            shared.metrics.clone(),
        )
        .await
        .map_err(anyhow::Error::msg)?;
        tokio::spawn(replicas.clone().watch(shutdown.clone()));
        shared.feed.follow_with(replicas.clone());
        shared.db = shared.db.clone().with_replicas(replicas);
        tracing::info!(
            standbys = args.database_read_urls.len(),
            "API reads go to standbys that have replayed every write the change feed reported"
        );
    }
    let feed = app::start_feed(&shared, &args.db.database_url, shutdown.clone()).await?;
    let server =
        app::start_server(&shared, sources.networks(), &settings, shutdown.clone()).await?;
    tracing::info!(
        "tokenmirror serving on http://{0}/graphql (GraphiQL at http://{0}/)",
        server.addr
    );
    let sync = if args.sync_enabled {
        app::start_sync(
            &shared,
            &sources,
            SyncSettings::from(&args.sync),
            SyncLock::for_database(&args.db.database_url),
            args.sync.sync_interval,
            shutdown,
        )
        .await?
    } else {
        tracing::info!(
            "--no-sync: serving the API and the change feed only; this process writes nothing"
        );
        None
    };
    server.wait().await?;
    if let Some(sync) = sync {
        sync.await?;
    }
    feed.await?;
    Ok(())
}

/// `tokenmirror sync`: one pass with `--once` (exit 0 when every token synced, 1 when any
/// failed), else the loop without the API. SIGTERM or Ctrl-C stops either between pages and
/// exits 0 (like `serve`) unless a token had already failed: what was stored is whole, and the
/// next run goes on from there.
pub async fn sync(args: &SyncCommandArgs, sources: Sources) -> ExitCode {
    let run = async {
        let shutdown = shutdown::on_signal();
        let shared = Shared::new(open(&args.db).await?);
        let mut lock = SyncLock::for_database(&args.db.database_url);
        if !args.once {
            let task = app::start_sync(
                &shared,
                &sources,
                SyncSettings::from(&args.sync),
                lock,
                args.sync.sync_interval,
                shutdown,
            )
            .await?;
            if let Some(task) = task {
                task.await?;
            }
            return Ok(true);
        }
        if let Some(why) = lock.acquire().await.obstacle() {
            anyhow::bail!("{why}; try again when it is free");
        }
        let syncer = app::prepare_sync(&shared, &sources, SyncSettings::from(&args.sync)).await?;
        let report = syncer.sync_once(&shutdown).await;
        lock.release().await;
        for n in &report.networks {
            for t in &n.tokens {
                match &t.error {
                    None if t.interrupted => {
                        println!(
                            "{} {}: interrupted by the shutdown signal",
                            n.network, t.address
                        )
                    }
                    None => println!(
                        "{} {}: ok, {} inserted, {} updated, {} deleted",
                        n.network,
                        t.address,
                        t.outcome.inserted,
                        t.outcome.updated,
                        t.outcome.deleted
                    ),
                    Some(e) => println!("{} {}: FAILED: {e}", n.network, t.address),
                }
            }
        }
        let failed = report
            .networks
            .iter()
            .any(|n| n.tokens.iter().any(|t| t.error.is_some()));
        Ok(!failed && (report.all_ok() || shutdown.is_cancelled()))
    };
    match run.await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `tokenmirror demo`: the simulated upstream on a loopback port and `serve` against it on the
/// demo's own SQLite file, every simulated token tracked. Works with no network.
pub async fn demo(args: &DemoArgs) -> anyhow::Result<()> {
    let sim_config = SimConfig {
        seed: args.seed,
        tokens: args.tokens,
        history: args.history,
        ..SimConfig::default()
    };
    let sim = Simulator::new(&sim_config)
        .spawn(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .context("cannot start the simulated upstream")?;
    let network = "sim".to_owned();
    let sources = Sources {
        upstreams: vec![Upstream {
            network: network.clone(),
            endpoint: Endpoint::Url(sim.url.clone()),
        }],
        tokens: sim
            .sim
            .token_addresses()
            .into_iter()
            .map(|address| TokenKey::new(network.clone(), address))
            .collect(),
    };
    let shutdown = shutdown::on_signal();
    let shared = Shared::new(
        open(&DbArgs {
            database_url: args.database_url.clone(),
        })
        .await?,
    );
    let feed = app::start_feed(&shared, &args.database_url, shutdown.clone()).await?;
    let settings = ServerSettings {
        listen_addr: args.listen_addr,
        ..ServerSettings::default()
    };
    let server =
        app::start_server(&shared, sources.networks(), &settings, shutdown.clone()).await?;
    let sync_settings = SyncSettings {
        backfill: Backfill::Duration(args.history),
        ..SyncSettings::default()
    };
    let sync = app::start_sync(
        &shared,
        &sources,
        sync_settings,
        SyncLock::for_database(&args.database_url),
        args.sync_interval,
        shutdown.clone(),
    )
    .await?;
    print_demo_banner(
        &server.addr.to_string(),
        &sim.url,
        &sources.tokens[0].address,
    );
    server.wait().await?;
    if let Some(sync) = sync {
        sync.await?;
    }
    feed.await?;
    sim.stop().await;
    Ok(())
}

fn print_demo_banner(addr: &str, upstream: &str, token: &str) {
    let week_ago = (chrono::Utc::now() - chrono::Duration::days(7)).format("%Y-%m-%dT00:00:00Z");
    println!(
        r#"
tokenmirror demo
  GraphiQL      http://{addr}/
  live chart    http://{addr}/chart
  GraphQL       http://{addr}/graphql  (subscriptions: ws://{addr}/graphql)
  UDF datafeed  http://{addr}/udf/  (TradingView; e.g. /udf/history?symbol=sim:{token}&resolution=60&countback=24&to=9999999999)
  subgraph      http://{addr}/subgraphs/sim  (the upstream's own query API, served from the mirror)
  upstream      {upstream} (simulated Uniswap v3 subgraph; the first sync takes a few seconds)
  database      the demo's own SQLite file (tokenmirror-demo.db)

Try in GraphiQL:

  {{ tokens {{ network address symbol name totalValueLockedUSD }} }}

  {{ tokenHourData(address: "{token}", from: "{week_ago}", interval: "1d", fillGaps: true) {{
      periodStart open high low close volumeUSD hours }} }}

  {{ tokenMetadata(address: "{token}") {{ symbol derivedETH
      hourData(from: "{week_ago}", interval: "4h", order: DESC, limit: 6) {{ periodStart close }} }} }}

  {{ syncStatus {{ address newestHour lastSuccessAt lastError lagSeconds }} }}

  subscription {{ tokenCandles(address: "{token}", interval: "1h") {{ periodStart close volumeUSD }} }}

Or with curl:

  curl -s http://{addr}/graphql -H 'content-type: application/json'     -d '{{"query":"{{ tokens {{ symbol address }} }}"}}'

  curl -s http://{addr}/subgraphs/sim -H 'content-type: application/json'     -d '{{"query":"{{ tokenHourDatas(first: 3, orderBy: periodStartUnix, orderDirection: desc) {{ id close }} }}"}}'

Ctrl-C stops it.
"#
    );
}
