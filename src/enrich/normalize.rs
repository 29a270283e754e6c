//! Text normalisation for analysis: full-width forms to ASCII, ASCII to lower
//! case, traditional characters to simplified (table in
//! `pipelines/dict/t2s.txt`). Every mapping is one character to one
//! character, so a character offset in the normalised text is the same
//! offset in the masked text shown to people (the reply parser relies on it).

use std::borrow::Cow;

use rustc_hash::FxHashMap as HashMap;

use crate::pipelines::{PipelineError, PipelineFiles};

#[derive(Debug, Clone)]
pub struct Normalizer {
    t2s: HashMap<char, char>,
    /// One bit per character of the Basic Multilingual Plane: whether
    /// [`Normalizer::char`] changes it. Most texts change nothing, and this
    /// tells so without a table lookup per character.
    changes: Box<[u64; 1024]>,
}

impl Normalizer {
    pub fn from_files(files: &PipelineFiles) -> Result<Normalizer, PipelineError> {
        let mut t2s = HashMap::default();
        for (no, line) in files.lines("dict/t2s.txt") {
            // Each line: pairs "繁简" separated by spaces, e.g. "們们 這这".
            for pair in line.split_whitespace() {
                let mut cs = pair.chars();
                match (cs.next(), cs.next(), cs.next()) {
                    (Some(t), Some(s), None) => {
                        t2s.insert(t, s);
                    }
                    _ => {
                        return Err(PipelineError::Invalid {
                            file: "dict/t2s.txt".into(),
                            message: format!("line {no}: {pair:?} is not a pair of two characters"),
                        });
                    }
                }
            }
        }
        let mut normalizer = Normalizer {
            t2s,
            changes: Box::new([0; 1024]),
        };
        for u in 0..0x10000u32 {
            if let Some(c) = char::from_u32(u)
                && normalizer.char(c) != c
            {
                normalizer.changes[(u >> 6) as usize] |= 1 << (u & 63);
            }
        }
        Ok(normalizer)
    }

    fn changes(&self, c: char) -> bool {
        let u = c as u32;
        if u < 0x10000 {
            self.changes[(u >> 6) as usize] >> (u & 63) & 1 == 1
        } else {
            self.char(c) != c
        }
    }

    pub fn char(&self, c: char) -> char {
        match c {
            '\u{FF01}'..='\u{FF5E}' => {
                char::from_u32(c as u32 - 0xFEE0).map_or(c, |a| a.to_ascii_lowercase())
            }
            '\u{3000}' => ' ',
            c if c.is_ascii() => c.to_ascii_lowercase(),
            c => self.t2s.get(&c).copied().unwrap_or(c),
        }
    }

    /// The normalised text; borrowed when no character changes (the common
    /// case: simplified Chinese without capitals or full-width forms).
    pub fn normalize<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match text.char_indices().find(|&(_, c)| self.changes(c)) {
            None => Cow::Borrowed(text),
            Some((at, _)) => {
                let mut out = String::with_capacity(text.len());
                out.push_str(&text[..at]);
                out.extend(text[at..].chars().map(
                    |c| {
                        if self.changes(c) { self.char(c) } else { c }
                    },
                ));
                Cow::Owned(out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_char_for_char() {
        let n = Normalizer::from_files(&PipelineFiles::builtin()).unwrap();
        let input = "民警態度很差！ＡＢＣ１２３　這個";
        let out = n.normalize(input);
        assert_eq!(out, "民警态度很差!abc123 这个");
        assert_eq!(out.chars().count(), input.chars().count());
    }
}
