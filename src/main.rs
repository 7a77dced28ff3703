//! The `eider` binary: `eider serve` (the default) runs every enabled service
//! on the configured store; other subcommands are admin helpers.

mod config;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "eider", version, about = "Eider mail store server")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    opts: ServeOpts,
}

#[derive(clap::Args, Clone, Default)]
struct ServeOpts {
    /// TOML file merged over the built-in defaults.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Override one setting, e.g. --set imap.port=1143 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE", global = true)]
    set: Vec<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the servers (what `eider` with no arguments does).
    Serve,
    /// Print the effective configuration's defaults file.
    DefaultConfig,
    /// Deliver a message file (or a generated test message) over LMTP to the
    /// configured [lmtp] listener, like WildDuck's examples/push-message.js.
    PushMessage(PushArgs),
}

#[derive(clap::Args)]
struct PushArgs {
    /// Recipient address(es), comma separated.
    address: String,
    /// RFC 5322 message file; a small test message is generated when omitted.
    file: Option<PathBuf>,
    /// Envelope sender (MAIL FROM); empty for the null sender.
    #[arg(long, default_value = "push-message@eider.local")]
    from: String,
    /// LMTP host (default: lmtp.host from the configuration).
    #[arg(long)]
    host: Option<String>,
    /// LMTP port (default: lmtp.port from the configuration).
    #[arg(long)]
    port: Option<u16>,
}

/// `eider push-message`: exit 0 when every recipient got 250.
fn push_message(cfg: &config::Config, args: PushArgs) -> ExitCode {
    let lmtp: eider_lmtp::LmtpConfig = match cfg.section("lmtp") {
        Ok(l) => l,
        Err(e) => {
            eprintln!("eider: {e}");
            return ExitCode::from(2);
        }
    };
    let host = args.host.unwrap_or(lmtp.host);
    let port = args.port.unwrap_or(lmtp.port);
    let rcpts: Vec<String> = args
        .address
        .split(',')
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
        .collect();
    if rcpts.is_empty() {
        eprintln!("eider: no recipient address given");
        return ExitCode::from(2);
    }
    let raw = match &args.file {
        Some(path) => match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("eider: cannot read {}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
        None => eider_outbound::sample_message(&args.from, &rcpts[0]),
    };
    let sender = Some(args.from.as_str()).filter(|s| !s.is_empty());
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("eider: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let timeout = std::time::Duration::from_secs(lmtp.timeout.max(1));
    match runtime.block_on(eider_outbound::push_message(
        &host, port, sender, &rcpts, &raw, timeout,
    )) {
        Ok(results) => {
            for r in &results {
                println!("{}: {} {}", r.rcpt, r.code, r.text);
            }
            if results.iter().all(|r| r.code == 250) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("eider: push-message to {host}:{port} failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let cfg = match config::Config::load(cli.opts.config.as_deref(), &cli.opts.set) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("eider: {e}");
                    return ExitCode::from(2);
                }
            };
            serve::run(cfg)
        }
        Command::DefaultConfig => {
            print!("{}", config::DEFAULT_TOML);
            ExitCode::SUCCESS
        }
        Command::PushMessage(args) => {
            match config::Config::load(cli.opts.config.as_deref(), &cli.opts.set) {
                Ok(cfg) => push_message(&cfg, args),
                Err(e) => {
                    eprintln!("eider: {e}");
                    ExitCode::from(2)
                }
            }
        }
    }
}
