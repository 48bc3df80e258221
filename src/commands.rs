//! What each subcommand does. Every command returns an exit code: 0 success, 1 failure,
//! 2 a configuration that cannot work.

use std::process::ExitCode;

use crate::config::{Cli, Command, DbArgs};
use crate::db::Db;

/// Exit code for a configuration error (as clap uses for bad flags).
pub const EXIT_CONFIG: u8 = 2;

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Migrate(args) => report(migrate(&args).await),
        Command::Serve(_)
        | Command::Demo(_)
        | Command::Simulate(_)
        | Command::Sync(_)
        | Command::Schema => {
            eprintln!("this command is not built yet");
            ExitCode::FAILURE
        }
    }
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
