//! The epochfsd binary: parse the command line, validate it, run the daemon,
//! report a fatal error in one place.

use std::process::ExitCode;

use clap::Parser;
use epochfsd::cli::{capabilities_json, Cli, Config};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.print_capabilities {
        println!("{}", capabilities_json());
        return ExitCode::SUCCESS;
    }
    let config = match Config::try_from(cli) {
        Ok(config) => config,
        Err(err) => return fatal(&err),
    };
    env_logger::Builder::new()
        .filter_level(config.log_level)
        .format_timestamp_millis()
        .init();
    match epochfsd::daemon::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fatal(&err),
    }
}

/// Prints `err` and its chain of causes, and returns a failure status.
fn fatal(err: &dyn std::error::Error) -> ExitCode {
    let mut message = format!("epochfsd: {err}");
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    eprintln!("{message}");
    ExitCode::FAILURE
}
