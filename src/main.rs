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
    }
}
