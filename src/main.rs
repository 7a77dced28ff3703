//! The `eider` binary: `eider serve` (the default) runs every enabled service
//! on the configured store; other subcommands are admin helpers.

mod cli;
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
    /// Machine-readable output (admin, backup and check commands).
    #[arg(long, global = true)]
    json: bool,
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
    /// Take a consistent copy of the running (or stopped) embedded store into the
    /// directory DEST, which `eider serve --set storage.path=DEST` opens as it is.
    Backup { dest: PathBuf },
    /// Check the embedded store: references, counters, journal order and every
    /// message reassembled byte for byte. Exit status 1 when damage is found.
    Check {
        /// Fix what has one right answer (orphans, counters); stop the server first.
        #[arg(long)]
        repair: bool,
        /// Reassemble only N messages picked at random.
        #[arg(long, value_name = "N")]
        sample: Option<u64>,
    },
    /// Users: create, list, show, passwd, disable, delete.
    #[command(subcommand)]
    User(cli::admin::UserCmd),
    /// A user's addresses: add, remove.
    #[command(subcommand)]
    Address(cli::admin::AddressCmd),
    /// A user's mailboxes.
    #[command(subcommand)]
    Mailbox(cli::admin::MailboxCmd),
    /// Issue an API access token for a user, or print the root token.
    Token(cli::admin::TokenArgs),
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
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::DefaultConfig = command {
        print!("{}", config::DEFAULT_TOML);
        return ExitCode::SUCCESS;
    }
    let cfg = match config::Config::load(cli.opts.config.as_deref(), &cli.opts.set) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("eider: {e}");
            return ExitCode::from(2);
        }
    };
    let json = cli.opts.json;
    use cli::admin::Admin;
    match command {
        Command::Serve => serve::run(cfg),
        Command::DefaultConfig => ExitCode::SUCCESS,
        Command::PushMessage(args) => push_message(&cfg, args),
        Command::Backup { dest } => cli::ops::backup(&cfg, &dest, json),
        Command::Check { repair, sample } => cli::ops::check(&cfg, repair, sample, json),
        Command::User(c) => cli::admin::run(&cfg, Admin::User(c), json),
        Command::Address(c) => cli::admin::run(&cfg, Admin::Address(c), json),
        Command::Mailbox(c) => cli::admin::run(&cfg, Admin::Mailbox(c), json),
        Command::Token(c) => cli::admin::run(&cfg, Admin::Token(c), json),
    }
}
