//! The `tokenmirror` binary: parse the configuration, start logging, run the subcommand.

use std::process::ExitCode;

use clap::Parser;
use tokenmirror::{commands, config::Cli, telemetry};

/// mimalloc instead of glibc's allocator: answers allocate many short strings per row, and
/// glibc spent a fifth of a wide candle query's time in malloc and free.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = telemetry::init(&cli.log) {
        eprintln!("error: {e}");
        return ExitCode::from(commands::EXIT_CONFIG);
    }
    commands::run(cli).await
}
