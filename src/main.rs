//! The gitfleet binary: parse arguments, set up logging, dispatch, map errors to exit codes.

mod cli;

use std::process::ExitCode;

use clap::Parser;

/// Colour log lines only on a terminal, and never when `NO_COLOR` is set to a non-empty value
/// (<https://no-color.org>).
fn colour_logs(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

fn main() -> ExitCode {
    // A Jsonnet evaluation, in a child process with its own limits (see build::jsonnet).
    if std::env::args_os().nth(1).as_deref()
        == Some(std::ffi::OsStr::new(gitfleet::build::jsonnet::CHILD_ARG))
    {
        return gitfleet::build::jsonnet::child_main();
    }
    // Usage errors exit 1 (clap's default of 2 means "changes present" in gitfleet's codes).
    let args = match cli::Cli::try_parse() {
        Ok(args) => args,
        Err(e) => {
            let code = if e.use_stderr() {
                cli::EXIT_ERROR
            } else {
                cli::EXIT_OK
            };
            let _ = e.print();
            return code.into();
        }
    };
    // kube's client logs every failed request at ERROR ("failed with error ...", "failed with
    // status 500") from its HTTP trace layer; gitfleet reports each failure itself, with what it
    // was doing, so by default those lines are only noise beside the real error (--verbose and
    // GITFLEET_LOG still show them).
    const QUIET_KUBE_TRACE: &str = "kube_client::client::builder=off";
    let filter = tracing_subscriber::EnvFilter::try_from_env("GITFLEET_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(if args.verbose {
            "debug".to_string()
        } else {
            format!("warn,{QUIET_KUBE_TRACE}")
        })
    });
    let json_logs =
        matches!(&args.command, cli::Command::Agent(a) if a.log_format == cli::LogFormat::Json);
    let filter = if matches!(&args.command, cli::Command::Agent(_))
        && std::env::var_os("GITFLEET_LOG").is_none()
        && !args.verbose
    {
        tracing_subscriber::EnvFilter::new(format!("gitfleet=info,warn,{QUIET_KUBE_TRACE}"))
    } else {
        filter
    };
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour_logs(
            std::io::IsTerminal::is_terminal(&std::io::stderr()),
            std::env::var_os("NO_COLOR").as_deref(),
        ))
        .with_writer(std::io::stderr);
    if json_logs {
        fmt.json().flatten_event(true).init();
    } else {
        fmt.init();
    }
    match cli::run(args) {
        Ok(code) => code,
        // A closed pipe (`gitfleet render | head`) is the reader's choice, not an error.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            cli::EXIT_OK.into()
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            cli::EXIT_ERROR.into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::colour_logs;
    use std::ffi::OsStr;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour_logs(true, None));
        assert!(colour_logs(true, Some(OsStr::new(""))));
        assert!(!colour_logs(true, Some(OsStr::new("1"))));
        assert!(!colour_logs(false, None));
        assert!(!colour_logs(false, Some(OsStr::new(""))));
    }
}
