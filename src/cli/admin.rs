//! Admin commands over the service layer (`eider user|address|mailbox|token`),
//! without the HTTP API running. Every rule is the service's: this module parses
//! arguments, calls the service, and prints text or `--json`. Exit status: 0 done,
//! 1 the service refused (its error and WildDuck code are printed), 2 bad usage or
//! configuration.

use std::io::BufRead;
use std::process::ExitCode;

use clap::Subcommand;
use eider_service::model::{Paging, User, UserQuery};
use eider_service::{NewAddress, NewUser, UserUpdate};
use eider_service::{ObjectId, Service};
use serde_json::{json, Value};

use crate::config::{Config, StorageConfig};

#[derive(Subcommand)]
pub enum UserCmd {
    /// Create a user (the password is read from standard input unless given).
    Create {
        username: String,
        /// Main address (default: USERNAME@emailDomain, as the API does).
        #[arg(long)]
        address: Option<String>,
        #[arg(long)]
        name: Option<String>,
        /// Quota in bytes (0: the server default).
        #[arg(long)]
        quota: Option<u64>,
        /// The password; visible to other local users in the process list, so
        /// prefer standard input.
        #[arg(long)]
        password: Option<String>,
    },
    /// List users (username, id, address).
    List {
        /// Only users whose username or address contains this text.
        #[arg(long)]
        query: Option<String>,
        #[arg(long, default_value_t = 250)]
        limit: u32,
    },
    /// Show one user (by username, address or id).
    Show { user: String },
    /// Set a user's password (read from standard input unless given).
    Passwd {
        user: String,
        #[arg(long)]
        password: Option<String>,
    },
    /// Disable a user (no logins, no deliveries); `--enable` undoes it.
    Disable {
        user: String,
        #[arg(long)]
        enable: bool,
    },
    /// Delete a user and, after the deletion delay, its mail.
    Delete { user: String },
}

#[derive(Subcommand)]
pub enum AddressCmd {
    /// Add an address to a user.
    Add {
        user: String,
        address: String,
        /// Make it the user's main address.
        #[arg(long)]
        main: bool,
    },
    /// Remove a user's address.
    Remove { address: String },
}

#[derive(Subcommand)]
pub enum MailboxCmd {
    /// List a user's mailboxes with their counters.
    List { user: String },
}

#[derive(clap::Args)]
pub struct TokenArgs {
    /// The user the token acts for (username, address or id).
    user: Option<String>,
    /// Print the root token (the configured [api.accessControl] secret).
    #[arg(long, conflicts_with = "user")]
    root: bool,
}

pub enum Admin {
    User(UserCmd),
    Address(AddressCmd),
    Mailbox(MailboxCmd),
    Token(TokenArgs),
}

/// What a command failed with: the service's error (exit 1) or bad usage (exit 2).
enum Failure {
    Service(eider_service::Error),
    Usage(String),
}

impl From<eider_service::Error> for Failure {
    fn from(e: eider_service::Error) -> Self {
        Failure::Service(e)
    }
}

pub fn run(cfg: &Config, cmd: Admin, json: bool) -> ExitCode {
    if let Admin::Token(TokenArgs { root: true, .. }) = cmd {
        return root_token(cfg, json);
    }
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
    let outcome = runtime.block_on(async {
        let service = open(cfg).await.map_err(Failure::Usage)?;
        execute(&service, cmd).await
    });
    match outcome {
        Ok(out) => {
            print_out(&out, json);
            ExitCode::SUCCESS
        }
        Err(Failure::Service(e)) => {
            if json {
                println!("{}", json!({"error": e.to_string(), "code": e.code()}));
            } else {
                eprintln!("eider: {e} ({})", e.code());
            }
            ExitCode::FAILURE
        }
        Err(Failure::Usage(msg)) => {
            eprintln!("eider: {msg}");
            ExitCode::from(2)
        }
    }
}

async fn open(cfg: &Config) -> Result<Service, String> {
    let storage: StorageConfig = cfg.section("storage").map_err(|e| e.to_string())?;
    // A mistyped path must not create an empty store that the command then reports on.
    let db = storage.path.join(eider_store_sqlite::DATABASE_FILE);
    if storage.backend == "embedded" && !db.is_file() {
        return Err(format!(
            "no store at {} (check storage.path; `eider serve` creates it)",
            db.display()
        ));
    }
    // One reader is plenty for one command next to a running server.
    let opts = eider_store_sqlite::SqliteOptions {
        readers: 1,
        ..Default::default()
    };
    let (store, bus) = crate::serve::open_store(cfg, &storage, opts).await?;
    let sc = crate::serve::service_config(cfg, &storage)?;
    Ok(Service::new(store, bus, sc))
}

/// Text lines and the JSON document of a command's result.
struct Out {
    text: Vec<String>,
    json: Value,
}

fn print_out(out: &Out, json: bool) {
    if json {
        println!("{}", out.json);
    } else {
        for line in &out.text {
            println!("{line}");
        }
    }
}

fn user_json(u: &User) -> Value {
    json!({
        "id": u.id.to_hex(),
        "username": u.username,
        "name": u.name,
        "address": u.address,
        "quota": u.quota,
        "storageUsed": u.storage_used,
        "disabled": u.disabled,
        "suspended": u.suspended,
        "tags": u.tags,
        "created": u.created.to_rfc3339(),
    })
}

/// A user named by id, username or address.
async fn find(service: &Service, name: &str) -> Result<User, Failure> {
    if let Some(id) = ObjectId::parse(name) {
        if let Ok(u) = service.get_user(id).await {
            return Ok(u);
        }
    }
    Ok(service.find_user(name).await?)
}

/// The password given, else one line of standard input.
fn password(given: Option<String>) -> Result<String, Failure> {
    if let Some(p) = given {
        return Ok(p);
    }
    // SAFETY: isatty only inspects the descriptor.
    if unsafe { libc::isatty(0) } == 1 {
        eprint!("password: ");
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure::Usage(format!("cannot read the password: {e}")))?;
    let p = line.trim_end_matches(['\r', '\n']).to_string();
    if p.is_empty() {
        return Err(Failure::Usage(
            "no password given (--password or one line on standard input)".into(),
        ));
    }
    Ok(p)
}

async fn execute(service: &Service, cmd: Admin) -> Result<Out, Failure> {
    match cmd {
        Admin::User(UserCmd::Create {
            username,
            address,
            name,
            quota,
            password: given,
        }) => {
            let pass = password(given)?;
            let u = service
                .create_user(NewUser {
                    username,
                    password: Some(pass),
                    address,
                    name,
                    quota,
                    ..Default::default()
                })
                .await?;
            Ok(Out {
                text: vec![format!("created user {} ({})", u.username, u.id.to_hex())],
                json: json!({"success": true, "id": u.id.to_hex(), "user": user_json(&u)}),
            })
        }
        Admin::User(UserCmd::List { query, limit }) => {
            let page = service
                .list_users(&UserQuery {
                    query,
                    paging: Paging {
                        limit: limit.clamp(1, 250),
                        ..Default::default()
                    },
                    ..Default::default()
                })
                .await?;
            let text = page
                .results
                .iter()
                .map(|u| {
                    format!(
                        "{}  {:<24} {}{}",
                        u.id.to_hex(),
                        u.username,
                        u.address,
                        if u.disabled { "  (disabled)" } else { "" }
                    )
                })
                .collect();
            Ok(Out {
                text,
                json: json!({
                    "total": page.total,
                    "results": page.results.iter().map(user_json).collect::<Vec<_>>(),
                }),
            })
        }
        Admin::User(UserCmd::Show { user }) => {
            let u = find(service, &user).await?;
            let addresses = service.list_user_addresses(u.id).await?;
            let mut j = user_json(&u);
            j["addresses"] = addresses.iter().map(|a| json!(a.address)).collect();
            let mut text = vec![
                format!("id:        {}", u.id.to_hex()),
                format!("username:  {}", u.username),
                format!("name:      {}", u.name.as_deref().unwrap_or("")),
                format!("address:   {}", u.address),
                format!("quota:     {} (0: server default)", u.quota),
                format!("used:      {}", u.storage_used),
                format!("disabled:  {}", u.disabled),
                format!("suspended: {}", u.suspended),
            ];
            for a in &addresses {
                text.push(format!("alias:     {}", a.address));
            }
            Ok(Out { text, json: j })
        }
        Admin::User(UserCmd::Passwd {
            user,
            password: given,
        }) => {
            let u = find(service, &user).await?;
            let pass = password(given)?;
            service
                .update_user(
                    u.id,
                    UserUpdate {
                        password: Some(Some(pass)),
                        ..Default::default()
                    },
                )
                .await?;
            Ok(done(format!("password of {} changed", u.username)))
        }
        Admin::User(UserCmd::Disable { user, enable }) => {
            let u = find(service, &user).await?;
            service
                .update_user(
                    u.id,
                    UserUpdate {
                        disabled: Some(!enable),
                        ..Default::default()
                    },
                )
                .await?;
            let what = if enable { "enabled" } else { "disabled" };
            Ok(done(format!("user {} {what}", u.username)))
        }
        Admin::User(UserCmd::Delete { user }) => {
            let u = find(service, &user).await?;
            service.delete_user(u.id).await?;
            Ok(done(format!("user {} deleted", u.username)))
        }
        Admin::Address(AddressCmd::Add {
            user,
            address,
            main,
        }) => {
            let u = find(service, &user).await?;
            let a = service
                .add_address(
                    u.id,
                    NewAddress {
                        address,
                        name: None,
                        main,
                        tags: Vec::new(),
                        meta_data: None,
                        internal_data: None,
                    },
                )
                .await?;
            Ok(Out {
                text: vec![format!("address {} added to {}", a.address, u.username)],
                json: json!({"success": true, "id": a.id.to_hex()}),
            })
        }
        Admin::Address(AddressCmd::Remove { address }) => {
            let a = service
                .lookup_address(&address)
                .await?
                .ok_or(eider_service::Error::AddressNotFound)?;
            match a.user {
                Some(user) => service.delete_user_address(user, a.id).await?,
                None => service.delete_forwarded_address(a.id).await?,
            }
            Ok(done(format!("address {} removed", a.address)))
        }
        Admin::Mailbox(MailboxCmd::List { user }) => {
            let u = find(service, &user).await?;
            let mut text = Vec::new();
            let mut list = Vec::new();
            for m in service.list_mailboxes(u.id).await? {
                let c = service.mailbox_counters(u.id, m.id).await?;
                text.push(format!(
                    "{}  {:<24} {:>7} messages {:>7} unseen {:>12} bytes",
                    m.id.to_hex(),
                    m.path,
                    c.total,
                    c.unseen,
                    c.size
                ));
                list.push(json!({
                    "id": m.id.to_hex(),
                    "path": m.path,
                    "specialUse": m.special_use.map(|s| s.as_str()),
                    "total": c.total,
                    "unseen": c.unseen,
                    "size": c.size,
                }));
            }
            Ok(Out {
                text,
                json: json!({"results": list}),
            })
        }
        Admin::Token(TokenArgs { user, .. }) => {
            let Some(user) = user else {
                return Err(Failure::Usage("name a user, or --root".into()));
            };
            let u = find(service, &user).await?;
            let token = service.issue_access_token(u.id).await?;
            Ok(Out {
                text: vec![token.clone()],
                json: json!({"success": true, "token": token, "id": u.id.to_hex()}),
            })
        }
    }
}

fn done(text: String) -> Out {
    Out {
        text: vec![text],
        json: json!({"success": true}),
    }
}

/// The root token is the configured access-control secret (the API compares a
/// token with it); Eider does not invent one, as the API would not know it.
fn root_token(cfg: &Config, json: bool) -> ExitCode {
    let api: Result<eider_http::ApiConfig, _> = cfg.section("api");
    let file: Result<crate::config::AccessSecretFile, _> = cfg.section("api.accessControl");
    let secret = match (api, file) {
        (Ok(api), Ok(file)) => match file.read() {
            Ok(Some(s)) => s,
            Ok(None) => api.access_control.secret,
            Err(e) => {
                eprintln!("eider: {e}");
                return ExitCode::from(2);
            }
        },
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("eider: {e}");
            return ExitCode::from(2);
        }
    };
    if secret.is_empty() {
        eprintln!(
            "eider: no root secret is configured: write a random one (e.g. `openssl rand -hex 32`) \
             to a file readable by eider only and set [api.accessControl] secretFile"
        );
        return ExitCode::from(2);
    }
    if json {
        println!("{}", json!({"token": secret, "root": true}));
    } else {
        println!("{secret}");
    }
    ExitCode::SUCCESS
}
