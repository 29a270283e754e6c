//! The search index of SQLite: `items_search`, a contentless FTS5 table
//! whose tokens are the one- and two-character pieces of an item's
//! searchable text ([`search::searchable`]), so that a word of any length
//! is found exactly, as a substring. In: an item's masked text, or the
//! words of a search. Out: the index's two columns, or the FTS5 query.
//!
//! Column `u` holds each distinct character once: a one-character word is
//! one token. Column `b` holds every overlapping pair of characters in
//! text order (positions kept), a gap token between the runs that white
//! space, list marks or masked spans cut: a word of n ≥ 2 characters is
//! the phrase of its n − 1 pairs, which stands in `b` exactly where the
//! word stands in the text. (FTS5's own `trigram` tokenizer finds only
//! words of three characters or more; two-character words — 诈骗, 民警 —
//! are most searches.) The `ascii` tokenizer cuts tokens at white space
//! and ASCII punctuation, so an ASCII character that is neither letter nor
//! digit is written as a private-use character (U+E000 + its code): every
//! piece stays one token, and no token holds a `"`.

use rusqlite::Connection;
use rusqlite::functions::FunctionFlags;
use rustc_hash::FxHashSet;

use crate::query::search;

/// Stands between two runs in column `b`: one character, so it is never a
/// pair a word is looked up by.
const GAP: char = '\u{e000}';

/// An index token's form of one character.
fn token_char(c: char) -> char {
    if c.is_ascii() && !c.is_ascii_alphanumeric() {
        char::from_u32(0xe000 + c as u32).expect("a private-use character")
    } else {
        c
    }
}

/// The runs of a searchable text a word can stand in, as token characters.
fn runs(searchable: &str) -> impl Iterator<Item = Vec<char>> + '_ {
    searchable
        .split(search::separates)
        .filter(|r| !r.is_empty())
        .map(|r| r.chars().map(token_char).collect())
}

/// Column `u` of an item: each distinct character once.
pub(super) fn unigrams(searchable: &str) -> String {
    let mut seen = FxHashSet::default();
    let mut out = String::new();
    for c in runs(searchable).flatten() {
        if seen.insert(c) {
            out.push(c);
            out.push(' ');
        }
    }
    out
}

/// Column `b` of an item: the pairs of each run in order, runs apart.
pub(super) fn bigrams(searchable: &str) -> String {
    let mut out = String::new();
    for run in runs(searchable).filter(|r| r.len() >= 2) {
        if !out.is_empty() {
            out.push(GAP);
            out.push(' ');
        }
        for pair in run.windows(2) {
            out.extend(pair);
            out.push(' ');
        }
    }
    out
}

/// The FTS5 query for `groups` (each any of its words, all groups), or
/// None when there is nothing to search for.
pub(super) fn match_expr(groups: &[Vec<String>]) -> Option<String> {
    let groups: Vec<String> = groups
        .iter()
        .map(|g| {
            let words: Vec<String> = g.iter().map(|w| phrase(w)).collect();
            format!("({})", words.join(" OR "))
        })
        .collect();
    (!groups.is_empty()).then(|| groups.join(" AND "))
}

/// One word as a column-filtered phrase.
fn phrase(word: &str) -> String {
    let chars: Vec<char> = word.chars().map(token_char).collect();
    if chars.len() == 1 {
        return format!("u : \"{}\"", chars[0]);
    }
    let pairs: Vec<String> = chars.windows(2).map(|p| p.iter().collect()).collect();
    format!("b : \"{}\"", pairs.join(" "))
}

/// SQL functions `minyi_search_unigrams(text)` and
/// `minyi_search_bigrams(text)` of a masked text, for the migration that
/// builds the index from the stored items.
pub(super) fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("minyi_search_unigrams", 1, flags, |ctx| {
        Ok(unigrams(&search::searchable(&ctx.get::<String>(0)?)))
    })?;
    conn.create_scalar_function("minyi_search_bigrams", 1, flags, |ctx| {
        Ok(bigrams(&search::searchable(&ctx.get::<String>(0)?)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_of_an_item() {
        let s = search::searchable("被骗了 A.b，骗");
        assert_eq!(unigrams(&s), "被 骗 了 a \u{e02e} b ");
        assert_eq!(bigrams(&s), "被骗 骗了 \u{e000} a\u{e02e} \u{e02e}b ");
        assert_eq!(bigrams("骗"), "");
        assert_eq!(unigrams(""), "");
    }

    #[test]
    fn words_become_phrases() {
        // ASCII punctuation is a private-use character, every piece one
        // token (a quotation mark cuts words: `"3.5"` is 3.5).
        let q = search::parse("诈骗|骗 电信诈骗 \"3.5\" a-b").unwrap();
        assert_eq!(
            match_expr(&q).unwrap(),
            "(b : \"诈骗\" OR u : \"骗\") AND (b : \"电信 信诈 诈骗\") \
             AND (b : \"3\u{e02e} \u{e02e}5\") AND (b : \"a\u{e02d} \u{e02d}b\")"
        );
        assert_eq!(match_expr(&[]), None);
    }
}
