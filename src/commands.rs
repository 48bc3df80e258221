//! What each subcommand does. Every command returns an exit code: 0 success, 1 failure,
//! 2 a configuration that cannot work.

use std::process::ExitCode;
use std::sync::Arc;

use crate::app::{self, ServerSettings};
use crate::config::{Cli, Command, DbArgs, ServeArgs, UpstreamArgs};
use crate::db::Db;
use crate::metrics::Metrics;
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
        Command::Demo(_) | Command::Simulate(_) | Command::Sync(_) => {
            eprintln!("this command is not built yet");
            ExitCode::FAILURE
        }
    }
}

fn resolve(args: &UpstreamArgs) -> Result<crate::config::Sources, ExitCode> {
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
        .map_err(|e| anyhow::anyhow!("cannot open the database {}: {e}", args.database_url))?;
    db.migrate()
        .await
        .map_err(|e| anyhow::anyhow!("cannot migrate the database {}: {e}", args.database_url))?;
    tracing::info!(database = %args.database_url, "database ready");
    Ok(db)
}

/// `tokenmirror serve`: migrations, then the API (and the sync loop) until a shutdown signal.
pub async fn serve(args: &ServeArgs, sources: crate::config::Sources) -> anyhow::Result<()> {
    let db = open(&args.db).await?;
    let shutdown = shutdown::on_signal();
    let metrics = Arc::new(Metrics::default());
    let server = app::start_server(
        db,
        &sources,
        &ServerSettings::from(&args.api),
        metrics,
        shutdown,
    )
    .await?;
    tracing::info!(
        "tokenmirror serving on http://{0}/graphql (GraphiQL at http://{0}/)",
        server.addr
    );
    server.wait().await
}
