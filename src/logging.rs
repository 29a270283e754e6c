//! Logs: every `tracing` event becomes one line on stderr, naming the
//! subcommand that runs (`minyi serve`, `api`, `ingest`, …). Levels come
//! from `RUST_LOG` (default `info`; e.g. `RUST_LOG=debug` adds the HTTP
//! access log). Two formats: human-readable text (default) and, with
//! `--log-format json`, one JSON object per line with `time`, `level`,
//! `command`, `target`, `message` and the event's fields.
//!
//! What is logged is chosen at the call sites: ids, counts, routes,
//! reasons — never item texts, contacts or tokens. Request logs carry the
//! route pattern (`/api/v1/alerts/{id}/ack`), not the query string.

use std::fmt::Write as _;
use std::io::Write as _;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// `2026-12-02T04:50:00.123Z  INFO minyi serve: message key=value`
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the process-wide logger for `command`. Call once, first thing.
pub fn init(command: &'static str, format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // A second init (tests that run several commands) keeps the first.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(Lines { command, format })
        .try_init();
}

struct Lines {
    command: &'static str,
    format: LogFormat,
}

impl<S: Subscriber> Layer<S> for Lines {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let meta = event.metadata();
        let line = format_line(
            self.format,
            &chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            *meta.level(),
            self.command,
            meta.target(),
            &fields,
        );
        // A closed stderr must not stop the process.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

/// An event's message and its other fields, in the order recorded.
#[derive(Default)]
struct Fields {
    message: String,
    rest: Vec<(&'static str, Value)>,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_owned()));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }
}

impl Fields {
    fn put(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.message = match value {
                Value::String(s) => s,
                v => v.to_string(),
            };
        } else {
            self.rest.push((field.name(), value));
        }
    }
}

fn format_line(
    format: LogFormat,
    time: &str,
    level: Level,
    command: &str,
    target: &str,
    fields: &Fields,
) -> String {
    match format {
        LogFormat::Text => {
            let mut line = format!("{time} {level:>5} minyi {command}: {}", fields.message);
            for (k, v) in &fields.rest {
                match v {
                    Value::String(s) if !s.contains([' ', '"', '=']) && !s.is_empty() => {
                        let _ = write!(line, " {k}={s}");
                    }
                    v => {
                        let _ = write!(line, " {k}={v}");
                    }
                }
            }
            // One event, one line: a message with a line break inside
            // (an error's chain) is folded.
            let mut line = line.replace(['\n', '\r'], " ");
            line.push('\n');
            line
        }
        LogFormat::Json => {
            let mut o = Map::new();
            o.insert("time".into(), time.into());
            o.insert("level".into(), level.as_str().into());
            o.insert("command".into(), command.into());
            o.insert("target".into(), target.into());
            o.insert("message".into(), fields.message.clone().into());
            for (k, v) in &fields.rest {
                o.insert((*k).to_owned(), v.clone());
            }
            let mut line = Value::Object(o).to_string();
            line.push('\n');
            line
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> Fields {
        Fields {
            message: "listening\non 127.0.0.1:8080".into(),
            rest: vec![
                ("status", 503u64.into()),
                ("route", "/api/v1/feedback".into()),
                ("reason", "a b".into()),
            ],
        }
    }

    #[test]
    fn text_lines_name_the_command_and_stay_one_line() {
        let line = format_line(
            LogFormat::Text,
            "2026-12-02T04:50:00.123Z",
            Level::WARN,
            "serve",
            "minyi::live",
            &fields(),
        );
        assert_eq!(
            line,
            "2026-12-02T04:50:00.123Z  WARN minyi serve: listening on 127.0.0.1:8080 status=503 route=/api/v1/feedback reason=\"a b\"\n"
        );
    }

    #[test]
    fn json_lines_are_one_object_with_the_command() {
        let line = format_line(
            LogFormat::Json,
            "2026-12-02T04:50:00.123Z",
            Level::INFO,
            "ingest",
            "minyi::kafka::ingest",
            &fields(),
        );
        assert!(line.ends_with("}\n") && line.matches('\n').count() == 1);
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["command"], "ingest");
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["message"], "listening\non 127.0.0.1:8080");
        assert_eq!(v["status"], 503);
        assert_eq!(v["target"], "minyi::kafka::ingest");
    }
}
