//! One shutdown signal for every task: Ctrl-C or SIGTERM cancels the token; the server stops
//! taking requests and the sync stops between pages.

use tokio_util::sync::CancellationToken;

/// A token cancelled at the first Ctrl-C or SIGTERM. The handlers are installed before this
/// returns, so a signal that arrives at any later moment is caught (never the default action,
/// which would kill the process mid-transaction). Must be called inside the tokio runtime.
pub fn on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    let signals = Signals::install();
    tokio::spawn(async move {
        signals.recv().await;
        tracing::info!("shutdown signal received: finishing in-flight work");
        trigger.cancel();
    });
    token
}

/// SIGTERM and SIGINT handlers (Ctrl-C elsewhere).
struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn install() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Signals {
                term: signal(SignalKind::terminate()).ok(),
                int: signal(SignalKind::interrupt()).ok(),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    async fn recv(self) {
        #[cfg(unix)]
        {
            async fn next(s: Option<tokio::signal::unix::Signal>) {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            if self.term.is_none() && self.int.is_none() {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
            tokio::select! {
                () = next(self.term) => {}
                () = next(self.int) => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
