use std::io::{BufReader, BufWriter};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use minyi::config::{Checked, Config};

/// minyi 民意: citizen feedback to the police → live wall screens, trends, alerts.
#[derive(Parser)]
#[command(version)]
struct Cli {
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
}

fn load_config(path: Option<&PathBuf>) -> anyhow::Result<Checked> {
    let checked = Config::load(path.map(PathBuf::as_path))?.validate(path.map(PathBuf::as_path))?;
    if checked.dev_key {
        eprintln!(
            "minyi: warning: no hmac_key configured (set {}); contact hashes use the development key",
            minyi::config::HMAC_KEY_ENV
        );
    }
    Ok(checked)
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Enrich { config } => {
            let checked = load_config(config.as_ref())?;
            let enricher = checked.enricher().context("loading the pipeline files")?;
            let stdin = std::io::stdin().lock();
            let stdout = BufWriter::new(std::io::stdout().lock());
            let stderr = std::io::stderr().lock();
            let summary = minyi::cli::enrich::run(&enricher, BufReader::new(stdin), stdout, stderr)
                .context("reading stdin or writing stdout")?;
            eprintln!(
                "minyi enrich: {} accepted, {} rejected",
                summary.accepted, summary.rejected
            );
        }
    }
    Ok(())
}
