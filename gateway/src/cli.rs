//! The command line: `serve`, `migrate`, `config check`, `policy explain`,
//! `audit verify`, `completions`, `man`. Parsing, config loading and logging set-up
//! live here, at the binary's edge; everything else takes values. Commands with more
//! than a few lines live in `cli/` (`check`, `dev_token`, `keys`).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{CommandFactory, Parser, Subcommand};
use support_access_core::ids::OrgId;
use support_access_core::service::VerifyError;
use support_access_core::tlog::AuditTree;
use support_access_memory::SystemClock;

use crate::Binds;
use crate::config::{Config, LogFormat};
use crate::wiring;

mod audit;
pub use audit::{EXIT_BAD_CHECKPOINT, EXIT_NO_INPUT};
pub mod check;
pub mod dev_token;
pub mod keys;

/// Exit code for a configuration refused at start (sysexits `EX_USAGE`... `EX_CONFIG`-like).
pub const EXIT_CONFIG: u8 = 64;
/// Exit code when a needed service (the database) is unreachable (`EX_UNAVAILABLE`).
pub const EXIT_UNAVAILABLE: u8 = 69;
/// Exit code for an audit chain that does not verify.
pub const EXIT_BROKEN_CHAIN: u8 = 1;
/// Exit code of `audit verify --org` for an org the store has no events of.
pub const EXIT_UNKNOWN_ORG: u8 = 2;
/// Exit code of `policy explain` for a request the policy denies (or the normaliser
/// refuses); an allowed request exits 0.
pub const EXIT_DENIED: u8 = 1;

/// `--version`: the crate version and the git commit it was built from.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("GATEWAY_BUILD_COMMIT"),
    ")"
);

/// The Support Access gateway.
#[derive(Debug, Parser)]
#[command(name = "support-gateway", version = VERSION, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway (applies migrations first).
    Serve {
        /// The config file.
        #[arg(long, default_value = "config/gateway.toml")]
        config: PathBuf,
    },
    /// Apply the storage migrations and exit.
    Migrate {
        /// The config file.
        #[arg(long, default_value = "config/gateway.toml")]
        config: PathBuf,
    },
    /// Check a configuration.
    Config {
        /// What to do with it.
        #[command(subcommand)]
        command: check::ConfigCommand,
    },
    /// Print a customer-admin or staff token signed with the development IdP keys of
    /// `config/keys/dev-only/` (refused when the config does not trust them).
    DevToken(dev_token::Args),
    /// Rotate and list the support signing keys of the shared store.
    Keys {
        /// What to do with them.
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    /// Inspect the route policy.
    Policy {
        /// What to do with it.
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// A first run: a stub CRM, the gateway on SQLite, generated keys, and printed
    /// commands that tell the whole story.
    Demo {
        /// Where config, keys and database go (default: a new temporary folder).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Inspect the audit log.
    Audit {
        /// What to do with it.
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Print a shell completion script, e.g. `completions bash > /etc/bash_completion.d/support-gateway`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), e.g. `man > support-gateway.1`.
    Man,
}

/// `policy …`.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Print the decision, rule and restriction for one request.
    Explain {
        /// The HTTP method, e.g. POST.
        method: String,
        /// The request target, e.g. /crm/v8/Leads/1/actions/send_mail.
        path: String,
        /// The config file (its `[policy] file` is used).
        #[arg(long, default_value = "config/gateway.toml")]
        config: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// `audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain of one org, or of every org; with `--checkpoint`, that the
    /// log extends a checkpoint kept outside the gateway (signature, origin, size,
    /// consistency).
    Verify {
        /// The config file.
        #[arg(long, default_value = "config/gateway.toml")]
        config: PathBuf,
        /// Only this org.
        #[arg(long)]
        org: Option<String>,
        /// A signed checkpoint saved earlier (`audit checkpoint`, or `GET
        /// /support-access/v1/audit/checkpoint`); its org is the one in its origin.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// With `--checkpoint`: a verifier key you saved (`GET …/audit/verifier-key`), or
        /// a file of them, one a line; repeatable. Only these are trusted (default: the
        /// key of `audit.key_file`).
        #[arg(long = "key", value_name = "VKEY", requires = "checkpoint")]
        keys: Vec<String>,
    },
    /// Print the org's signed checkpoint of its current log.
    Checkpoint {
        /// The config file.
        #[arg(long, default_value = "config/gateway.toml")]
        config: PathBuf,
        /// The org.
        #[arg(long)]
        org: String,
    },
}

pub(crate) fn load(path: &std::path::Path) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|e| {
        eprintln!("support-gateway: {e}");
        ExitCode::from(EXIT_CONFIG)
    })
}

pub(crate) fn wiring_failure(e: &wiring::WiringError) -> ExitCode {
    eprintln!("support-gateway: {e}");
    ExitCode::from(if e.is_config() {
        EXIT_CONFIG
    } else {
        EXIT_UNAVAILABLE
    })
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&config.log.level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // A closed stderr must not turn a log line into a panic inside a request.
        .log_internal_errors(false)
        // Colour only for a person at a terminal: a file or a log collector gets plain text.
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match config.log.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Runs a parsed command line; returns the process exit code.
pub async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Serve { config } => serve(&config).await,
        Command::Config {
            command: check::ConfigCommand::Check { config },
        } => check::run(&config).await,
        Command::Keys { command } => match command {
            keys::KeysCommand::Rotate { config, audit } => keys::rotate(&config, audit).await,
            keys::KeysCommand::List { config, audit } => keys::list(&config, audit).await,
        },
        Command::DevToken(args) => dev_token::run(&args),
        Command::Completions { shell } => {
            let mut command = Cli::command();
            clap_complete::generate(
                shell,
                &mut command,
                "support-gateway",
                &mut std::io::stdout(),
            );
            ExitCode::SUCCESS
        }
        Command::Man => {
            match clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("support-gateway man: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Migrate { config } => {
            let config = match load(&config) {
                Ok(config) => config,
                Err(code) => return code,
            };
            match wiring::migrate(&config.storage).await {
                Ok(()) => {
                    println!("migrations applied");
                    ExitCode::SUCCESS
                }
                Err(e) => wiring_failure(&e),
            }
        }
        Command::Policy {
            command:
                PolicyCommand::Explain {
                    method,
                    path,
                    config,
                    json,
                },
        } => {
            let config = match load(&config) {
                Ok(config) => config,
                Err(code) => return code,
            };
            let policy = match wiring::policy(&config) {
                Ok(policy) => policy,
                Err(e) => return wiring_failure(&e),
            };
            let explanation = policy.explain(&method, &path);
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&explanation).unwrap_or_default()
                );
            } else {
                println!("{explanation}");
            }
            // Scripts can test the answer: 0 allowed, 1 denied (or refused by the
            // normaliser, which is a denial too).
            if explanation.outcome() == "allowed" {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_DENIED)
            }
        }
        Command::Audit {
            command:
                AuditCommand::Verify {
                    config,
                    org,
                    checkpoint: Some(file),
                    keys,
                },
        } => audit::verify_checkpoint(&config, org, &file, &keys).await,
        Command::Audit {
            command:
                AuditCommand::Verify {
                    config,
                    org,
                    checkpoint: None,
                    keys: _,
                },
        } => verify(&config, org).await,
        Command::Audit {
            command: AuditCommand::Checkpoint { config, org },
        } => audit::print_checkpoint(&config, org).await,
        Command::Demo { dir } => demo(dir).await,
    }
}

async fn serve(path: &std::path::Path) -> ExitCode {
    let config = match load(path) {
        Ok(config) => config,
        Err(code) => return code,
    };
    init_logging(&config);
    let binds = Binds::from_config(&config);
    match crate::build(config, binds).await {
        Ok(running) => {
            running.run_until(shutdown_signal()).await;
            ExitCode::SUCCESS
        }
        // Every start failure exits 64 naming the key at fault (SPEC §7): a bad value, a
        // listen address in use, or a store that `storage.url` does not reach.
        Err(e) => {
            eprintln!("support-gateway: {e}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

async fn verify(path: &std::path::Path, org: Option<String>) -> ExitCode {
    let config = match load(path) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let stores = match wiring::connect(&config.storage).await {
        Ok(stores) => stores,
        Err(e) => return wiring_failure(&e),
    };
    let access = wiring::service(&config, &stores, Arc::new(SystemClock));
    let known = match stores.audit.orgs().await {
        Ok(orgs) => orgs,
        Err(e) => return store_failure(&e),
    };
    let orgs = match org.map(OrgId::new) {
        Some(org) if !known.contains(&org) => {
            eprintln!("support-gateway: audit verify: org {org} has no audit log in this store");
            return ExitCode::from(EXIT_UNKNOWN_ORG);
        }
        Some(org) => vec![org],
        None => known,
    };
    let tree = stores.tree;
    for org in orgs {
        if let Err(code) = verify_org(&access, &*tree, &org).await {
            return code;
        }
    }
    ExitCode::SUCCESS
}

/// One org's chain, then the chain against the store's tree head: a log whose newest
/// events were deleted is a valid chain, but shorter than the head the store recorded.
pub(crate) async fn verify_org(
    access: &support_access_core::SupportAccess,
    tree: &dyn AuditTree,
    org: &OrgId,
) -> Result<(), ExitCode> {
    let report = match access.verify_audit(org).await {
        Ok(report) => report,
        Err(VerifyError::Broken(broken)) => {
            println!(
                "org {}: BROKEN at seq {} (event {}): {}",
                broken.org, broken.seq, broken.id, broken.problem
            );
            return Err(ExitCode::from(EXIT_BROKEN_CHAIN));
        }
        Err(VerifyError::Store(e)) => return Err(store_failure(&e)),
        Err(e @ VerifyError::Tree(_)) => {
            println!("org {org}: BROKEN: {e}");
            return Err(ExitCode::from(EXIT_BROKEN_CHAIN));
        }
    };
    let head = tree.tree_head(org).await.map_err(|e| store_failure(&e))?;
    if head != report.tree {
        println!(
            "org {}: BROKEN: the chain holds {} events but the store's tree head has {} \
             (root {}); events are missing or were changed",
            report.org, report.events, head.size, head.root
        );
        return Err(ExitCode::from(EXIT_BROKEN_CHAIN));
    }
    println!(
        "org {}: {} events, chain intact, head {}, tree head matches",
        report.org, report.events, report.head
    );
    Ok(())
}

pub(crate) fn store_failure(e: &support_access_core::StoreError) -> ExitCode {
    eprintln!("support-gateway: storage.url: {e}");
    ExitCode::from(EXIT_UNAVAILABLE)
}

async fn demo(dir: Option<PathBuf>) -> ExitCode {
    let dir = match dir {
        Some(dir) => dir,
        None => std::env::temp_dir().join(format!("support-access-demo-{}", std::process::id())),
    };
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("support-gateway"));
    let demo = match crate::demo::start(&dir, &exe).await {
        Ok(demo) => demo,
        Err(e) => {
            eprintln!("support-gateway demo: {e}");
            return ExitCode::from(EXIT_UNAVAILABLE);
        }
    };
    println!("Support Access demo");
    println!("  stub CRM      http://{}", demo.crm);
    println!("  gateway       http://{}", demo.gateway.proxy);
    println!(
        "  admin page    http://{}/support-access/ui/",
        demo.gateway.proxy
    );
    println!("  metrics       http://{}/metrics", demo.gateway.ops);
    println!("  files         {}", demo.dir.display());
    println!();
    print!("{}", demo.script);
    println!();
    println!("# ready — press Ctrl-C to stop");
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    demo.gateway.run_until(shutdown_signal()).await;
    ExitCode::SUCCESS
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
