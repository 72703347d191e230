//! The `runbook` command line. Each subcommand lives in its own file under src/cli/.

mod cli;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    init_tracing();
    cli::run()
}

/// Debug logs for whoever debugs runbook itself, only when `RUST_LOG` asks for them
/// (`RUST_LOG=debug`, `RUST_LOG=runbook::engine=trace`): on standard error, never on
/// standard output (which `--output json` and `graph` own), and without colour when
/// `NO_COLOR` is set or standard error is not a terminal. Without `RUST_LOG` nothing is
/// set up and nothing extra is printed.
fn init_tracing() {
    if std::env::var_os("RUST_LOG").is_none() {
        return;
    }
    let ansi = std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(|| LogWriter)
        .with_ansi(ansi)
        .try_init();
}

/// Standard error, with the progress display (if one is drawn) taken off the screen
/// while a log line is written, so the two do not overwrite each other.
struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        runbook::engine::report::suspend(|| std::io::stderr().lock().write(buf))
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        runbook::engine::report::suspend(|| std::io::stderr().lock().write_all(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
