//! The module graph points one way (docs/DESIGN.md, "Module layers"): the
//! HTTP layer (`src/server/`) sits on top, beside `main.rs` and the
//! subcommands (`src/cli/`); nothing below imports it or knows HTTP, and
//! `config` depends on no module of the crate. Read from the sources, so a
//! new import that breaks the rule fails here, not in review.

use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without its comments (doc links may name anything).
fn code(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn only_the_top_layer_imports_the_server_or_knows_http() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    assert!(files.len() > 20, "{} source files", files.len());
    let mut offenders = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap().to_string_lossy().into_owned();
        let top = rel.starts_with("server/") || rel.starts_with("cli/") || rel == "main.rs";
        if top {
            continue;
        }
        let code = code(f);
        for needle in ["crate::server", "minyi::server", "axum::"] {
            if code.contains(needle) {
                offenders.push(format!("{rel} uses {needle}"));
            }
        }
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
}

#[test]
fn config_depends_on_no_module_of_the_crate() {
    let code = code(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src/config.rs"));
    let outside_tests = code.split("#[cfg(test)]").next().unwrap();
    assert!(
        !outside_tests.contains("crate::"),
        "src/config.rs imports a module of the crate"
    );
}
