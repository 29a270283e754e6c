//! Bodies of the `minyi` subcommands; `main.rs` only parses arguments.

pub mod distributed;
pub mod enrich;
pub mod import;
