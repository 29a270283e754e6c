use std::io::{BufReader, BufWriter};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use minyi::config::{Checked, Config};
use minyi::logging::LogFormat;

/// minyi 民意: citizen feedback to the police → live wall screens, trends, alerts.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// How log lines on stderr are written: text, or one JSON object per
    /// line (levels from RUST_LOG, default info).
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Raw feedback JSONL on stdin → enriched JSON lines on stdout; rejects on stderr.
    Enrich {
        /// minyi.toml (all keys optional).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// The embedded all-in-one: HTTP ingest and a demo feed → SQLite → query
    /// API, live wall screens, explorer.
    Serve {
        /// Address to listen on; beyond loopback, API tokens are required.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Folder of the SQLite store.
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// minyi.toml (all keys optional).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Do not run the built-in demo feed.
        #[arg(long)]
        no_demo: bool,
    },
    /// Distributed mode: a consumer-group member on the Kafka topics,
    /// writing enriched rows to ClickHouse (exactly once in effect).
    Ingest {
        /// Kafka bootstrap servers, HOST:PORT[,HOST:PORT].
        #[arg(long)]
        brokers: String,
        /// ClickHouse HTTP address, e.g. http://127.0.0.1:8123.
        #[arg(long)]
        clickhouse: String,
        #[arg(long, default_value = "default")]
        database: String,
        /// Consumer group; every `minyi ingest` of one deployment shares it.
        #[arg(long, default_value = "minyi-ingest")]
        group: String,
        /// Address of /metrics, /healthz.
        #[arg(long, default_value = "127.0.0.1:9464")]
        listen: std::net::SocketAddr,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Distributed mode: the HTTP API, live screens and alerts over ClickHouse.
    Api {
        #[arg(long)]
        clickhouse: String,
        #[arg(long, default_value = "default")]
        database: String,
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Applies the ClickHouse schema steps not applied yet (idempotent).
    Migrate {
        #[arg(long)]
        clickhouse: String,
        #[arg(long, default_value = "default")]
        database: String,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// JSONL on stdin → one Kafka message per line (replay, load); waits
    /// for every acknowledgement.
    Produce {
        #[arg(long)]
        brokers: String,
        #[arg(long, default_value = minyi::kafka::FEEDBACK_TOPIC)]
        topic: String,
        /// Instead of stdin: the demo feed at this many items/s (busiest
        /// hour), items and work-order events, until Ctrl-C / SIGTERM.
        #[arg(long)]
        demo: Option<f64>,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Archive files (CSV in UTF-8 or GB18030, XLSX, JSONL; Chinese headers
    /// recognised, local times) → enrichment → the store, in time order;
    /// idempotent; refused rows on stderr with their row number and reason.
    Import {
        /// The files (.csv, .tsv, .xlsx, .xls, .jsonl).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Folder of the SQLite store (stop `minyi serve` on it first).
        #[arg(long, default_value = "data", conflicts_with = "clickhouse")]
        data: PathBuf,
        /// Import into ClickHouse instead (HTTP address).
        #[arg(long)]
        clickhouse: Option<String>,
        #[arg(long, default_value = "default")]
        database: String,
        /// Channel code or name for rows without one (no 渠道/来源 column,
        /// or an empty cell).
        #[arg(long)]
        channel: Option<String>,
        /// `列名=field` (id, received_at, text, channel, rating, district,
        /// unit, contact, case_ref), or `列名=` to ignore a column; repeatable.
        #[arg(long, value_name = "列名=field")]
        map: Vec<String>,
        /// Zone of times written without one (default: the config's).
        #[arg(long, value_name = "+08:00")]
        timezone: Option<String>,
        /// Show the mapping, the first rows as enriched and the refused
        /// rows; write nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Prints the SHA-256 of a token, for `[[token]] sha256` in minyi.toml.
    HashToken { token: String },
    /// Prints the contact hash of a phone number or e-mail (read from
    /// stdin, one per line, so it stays out of the shell's history) with
    /// the deployment's key: what `DELETE /api/v1/contacts/{hash}` takes.
    ContactHash {
        /// minyi.toml (its hmac_key, or MINYI_HMAC_KEY).
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

fn load_config(path: Option<&PathBuf>) -> anyhow::Result<Checked> {
    let checked = Config::load(path.map(PathBuf::as_path))?.validate(path.map(PathBuf::as_path))?;
    if checked.dev_key {
        tracing::warn!(
            "no hmac_key configured (set {}); contact hashes use the development key",
            minyi::config::HMAC_KEY_ENV
        );
    }
    Ok(checked)
}

/// An error ends the process with its chain of causes on one stderr line
/// and exit code 1 (`fn main() -> Result` would print its debug form: a
/// backtrace whenever RUST_BACKTRACE is set).
fn main() -> std::process::ExitCode {
    few_malloc_arenas();
    let cli = Cli::parse();
    minyi::logging::init(cli.command.name(), cli.log_format);
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Rust's memory comes from mimalloc; SQLite's (its page caches, its
/// sorter) from the C library's malloc, whose default of eight arenas a
/// core keeps each thread's peak: the wall's panel queries, on the
/// blocking pool's threads, took ~300 MB more RSS that way than with two
/// arenas (measured with `MALLOC_ARENA_MAX=2`: 780–940 → ~650 MB). Set
/// before any thread starts; `MALLOC_ARENA_MAX` in the environment wins.
fn few_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets a parameter of the allocator; called
        // before any other thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

impl Command {
    /// The subcommand's name, as every log line gives it.
    fn name(&self) -> &'static str {
        match self {
            Command::Enrich { .. } => "enrich",
            Command::Serve { .. } => "serve",
            Command::Ingest { .. } => "ingest",
            Command::Api { .. } => "api",
            Command::Migrate { .. } => "migrate",
            Command::Produce { .. } => "produce",
            Command::Import { .. } => "import",
            Command::HashToken { .. } => "hash-token",
            Command::ContactHash { .. } => "contact-hash",
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Enrich { config } => {
            let checked = load_config(config.as_ref())?;
            let enricher = minyi::enrich::Enricher::from_config(&checked)
                .context("loading the pipeline files")?;
            let stdin = std::io::stdin().lock();
            let stdout = BufWriter::new(std::io::stdout().lock());
            let summary = minyi::cli::enrich::run(&enricher, BufReader::new(stdin), stdout)
                .context("reading stdin or writing stdout")?;
            tracing::info!(
                "{} accepted, {} rejected",
                summary.accepted,
                summary.rejected
            );
        }
        Command::Serve {
            listen,
            data,
            config,
            no_demo,
        } => {
            let checked = load_config(config.as_ref())?;
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            runtime.block_on(async {
                let shutdown = tokio_util::sync::CancellationToken::new();
                tokio::spawn(on_signal(shutdown.clone()));
                minyi::server::serve(
                    minyi::server::ServeOptions {
                        listen,
                        data,
                        demo: !no_demo,
                        checked,
                    },
                    shutdown,
                )
                .await
            })?;
        }
        Command::Ingest {
            brokers,
            clickhouse,
            database,
            group,
            listen,
            config,
        } => {
            let checked = load_config(config.as_ref())?;
            minyi::cli::distributed::ingest(
                minyi::cli::distributed::IngestArgs {
                    brokers,
                    clickhouse,
                    database,
                    group,
                    listen,
                },
                checked,
            )?;
        }
        Command::Api {
            clickhouse,
            database,
            listen,
            config,
        } => {
            let checked = load_config(config.as_ref())?;
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            runtime.block_on(async {
                let shutdown = tokio_util::sync::CancellationToken::new();
                tokio::spawn(on_signal(shutdown.clone()));
                minyi::server::api(
                    minyi::server::ApiOptions {
                        listen,
                        clickhouse,
                        database,
                        checked,
                    },
                    shutdown,
                )
                .await
            })?;
        }
        Command::Migrate {
            clickhouse,
            database,
            config,
        } => {
            let checked = load_config(config.as_ref())?;
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            runtime.block_on(minyi::cli::distributed::migrate(
                &clickhouse,
                &database,
                &checked,
            ))?;
        }
        Command::Produce {
            brokers,
            topic,
            demo,
            config,
        } => {
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            let checked = load_config(config.as_ref())?;
            // Brokers without auto-creation (tansu) refuse unknown topics.
            runtime
                .block_on(minyi::kafka::ensure_topics(
                    &brokers,
                    checked.kafka_partitions,
                ))
                .context("creating the topics")?;
            if let Some(rate) = demo {
                let enricher = minyi::enrich::Enricher::from_config(&checked)
                    .context("loading the pipeline files")?;
                let n = runtime.block_on(async {
                    let shutdown = tokio_util::sync::CancellationToken::new();
                    tokio::spawn(on_signal(shutdown.clone()));
                    tracing::info!("demo feed at {rate} items/s into {brokers}");
                    minyi::kafka::produce_demo(&brokers, &enricher, rate, shutdown).await
                })?;
                tracing::info!("{n} messages acknowledged by {brokers}");
            } else {
                let n = runtime.block_on(minyi::kafka::produce_lines(
                    &brokers,
                    &topic,
                    std::io::stdin().lock(),
                ))?;
                tracing::info!("{n} messages acknowledged by {brokers} on {topic}");
            }
        }
        Command::Import {
            files,
            data,
            clickhouse,
            database,
            channel,
            map,
            timezone,
            dry_run,
            config,
        } => {
            let checked = load_config(config.as_ref())?;
            minyi::cli::import::run(
                minyi::cli::import::ImportArgs {
                    files,
                    data,
                    clickhouse,
                    database,
                    channel,
                    map,
                    timezone,
                    dry_run,
                },
                checked,
            )?;
        }
        Command::HashToken { token } => {
            if token.trim().is_empty() {
                anyhow::bail!("an empty token would let anyone in: give a long random secret");
            }
            println!("{}", minyi::server::auth::hash_token(&token));
        }
        Command::ContactHash { config } => {
            let checked = load_config(config.as_ref())?;
            for line in std::io::stdin().lines() {
                let line = line.context("reading stdin")?;
                if !line.trim().is_empty() {
                    println!(
                        "{}",
                        minyi::enrich::pii::contact_hash(&checked.hmac_key, line.trim())
                    );
                }
            }
        }
    }
    Ok(())
}

/// Cancels `shutdown` on Ctrl-C or SIGTERM.
async fn on_signal(shutdown: tokio_util::sync::CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down: finishing in-flight batches");
    shutdown.cancel();
}
