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
    let syslog = config.syslog;
    epochfsd::daemon::init_logging(config.log_level, syslog);
    for notice in &config.notices {
        log::warn!("{notice}");
    }
    match epochfsd::daemon::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            if syslog {
                log::error!("{}", describe(&err));
            }
            fatal(&err)
        }
    }
}

/// `err` and its chain of causes on one line.
fn describe(err: &dyn std::error::Error) -> String {
    let mut message = format!("epochfsd: {err}");
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    message
}

/// Prints `err` on stderr (where launchers collect the daemon's output)
/// and returns a failure status.
fn fatal(err: &dyn std::error::Error) -> ExitCode {
    eprintln!("{}", describe(err));
    ExitCode::FAILURE
}
