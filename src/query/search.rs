//! Search that finds what Ctrl-F finds: the grammar of `q` and the text a
//! search looks in. In: the typed `q`, an item's masked text. Out: the
//! words to look for ([`parse`]), the item's searchable text
//! ([`searchable`]). Both stores match a word as a substring of the
//! searchable text, so they answer alike.
//!
//! Grammar. `q` is cut into words at white space (any, U+3000 too), at
//! the list marks `,` `，` `、` `;` `；` and at quotation marks (`"` `“` `”`
//! `‘` `’` `「` `」` `『` `』`: a quoted `"被骗"` is the word 被骗, as an
//! analyst means it, not a search for the marks); every word must occur
//! (AND). `|`
//! or `｜` between words makes them alternatives (OR), white space around
//! it allowed: `诈骗|骗 民警` is (诈骗 OR 骗) AND 民警. Empty words are
//! ignored (`a||b`, a leading or trailing `|`). Latin letters match in
//! either case (ASCII); every other character as typed, so one Chinese
//! character is a search. At most [`MAX_WORDS`] words, each at most
//! [`MAX_WORD_CHARS`] characters.
//!
//! Masked personal data never matches: in the searchable text each masked
//! span ([`MASKED_SPAN`]: a run of three or more `*` with the letters,
//! digits and e-mail characters glued to it, a plate's province before its
//! letter, or a masked name's surname with its one or two `*`) is a space,
//! and a word holds no space, so `138` or `5678` cannot find
//! `138****5678`, nor `王` a `王**`; nor may a word hold `*` (a 400).
//! What is left of a masked address (`单元` of `***号*单元***室`) is no
//! personal data and stays searchable.

use std::sync::LazyLock;

use regex::Regex;

/// Most words a search may have, alternatives included.
pub const MAX_WORDS: usize = 8;
/// Longest word, in characters.
pub const MAX_WORD_CHARS: usize = 32;

/// What masking leaves visible of personal data, in ASCII-lowercased
/// masked text (what [`crate::enrich::pii::hint_spans`] calls hints, and a
/// masked name). The same pattern is ClickHouse's (`005_search.sql`, where
/// re2 reads it alike), so both stores cut the same spans.
pub const MASKED_SPAN: &str = r"(?:[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼][a-z])?[a-z0-9@._%+-]*\*{3,}[a-z0-9@._%+-]*|[\x{4e00}-\x{9fff}]\*{1,2}";

static MASKED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(MASKED_SPAN).expect("MASKED_SPAN is a valid pattern"));

/// The text a search looks in: the masked text with ASCII letters in lower
/// case and every masked span a space.
pub fn searchable(masked: &str) -> String {
    let lower = masked.to_ascii_lowercase();
    match MASKED.replace_all(&lower, " ") {
        std::borrow::Cow::Borrowed(_) => lower,
        std::borrow::Cow::Owned(s) => s,
    }
}

/// Whether `c` ends a word and joins it to the next with AND. (The
/// explorer's `searchText`, dashboards/web/js/explore.js, knows these marks
/// and `|` too, to tell a search of marks alone: change both together.)
pub fn separates(c: char) -> bool {
    /// The list marks, then the quotation marks.
    const MARKS: &[char] = &[
        ',', '，', '、', ';', '；', '"', '“', '”', '＂', '‘', '’', '「', '」', '『', '』',
    ];
    c.is_whitespace() || MARKS.contains(&c)
}

/// Whether `c` makes the words on either side alternatives.
fn or_mark(c: char) -> bool {
    matches!(c, '|' | '｜')
}

/// Why a search was refused (a 400 on `q`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    #[error("more than {MAX_WORDS} words")]
    TooManyWords,
    #[error("word {0} is longer than {MAX_WORD_CHARS} characters")]
    WordTooLong(usize),
    /// A `*` stands for masked personal data, which no search finds (a
    /// masked text's stars are not all cut from the searchable text: an
    /// address's `***号*单元***室` keeps one).
    #[error("`*` marks masked personal data, which no search matches")]
    Masked,
}

/// The words of `q`: each inner list is one group of alternatives (any of
/// them), every group required. Words are lower-cased (ASCII) like the
/// searchable text, and repeated ones dropped. Empty when `q` has no word.
pub fn parse(q: &str) -> Result<Vec<Vec<String>>, SearchError> {
    let mut groups: Vec<Vec<String>> = Vec::new();
    let mut word = String::new();
    // Whether the next word is an alternative of the group before it.
    let mut or_pending = false;
    let mut words = 0;
    let mut finish = |word: &mut String, or_pending: &mut bool| -> Result<(), SearchError> {
        if word.is_empty() {
            return Ok(());
        }
        words += 1;
        if words > MAX_WORDS {
            return Err(SearchError::TooManyWords);
        }
        if word.chars().count() > MAX_WORD_CHARS {
            return Err(SearchError::WordTooLong(words));
        }
        if word.contains(['*', '＊']) {
            return Err(SearchError::Masked);
        }
        let w = std::mem::take(word).to_ascii_lowercase();
        match groups.last_mut() {
            Some(group) if *or_pending => {
                if !group.contains(&w) {
                    group.push(w);
                }
            }
            _ => groups.push(vec![w]),
        }
        *or_pending = false;
        Ok(())
    };
    for c in q.chars() {
        if or_mark(c) {
            finish(&mut word, &mut or_pending)?;
            or_pending = true;
        } else if separates(c) {
            finish(&mut word, &mut or_pending)?;
        } else {
            word.push(c);
        }
    }
    finish(&mut word, &mut or_pending)?;
    let mut unique: Vec<Vec<String>> = Vec::with_capacity(groups.len());
    for g in groups {
        if !unique.contains(&g) {
            unique.push(g);
        }
    }
    Ok(unique)
}

/// Whether `text` (as [`searchable`] made it) matches the `groups`: the
/// reference the stores' answers are tested against.
pub fn matches(text: &str, groups: &[Vec<String>]) -> bool {
    groups.iter().all(|g| g.iter().any(|w| text.contains(w)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrich::pii::mask;

    fn p(q: &str) -> Vec<Vec<String>> {
        parse(q).unwrap()
    }

    #[test]
    fn quotation_marks_cut_words_as_spaces_do() {
        assert_eq!(p("\"被骗\""), [vec!["被骗"]]);
        assert_eq!(p("“安全账户” 民警"), [vec!["安全账户"], vec!["民警"]]);
        assert_eq!(p("「诈骗」|‘骗’"), [vec!["诈骗", "骗"]]);
        assert!(p("\"\"").is_empty());
    }

    #[test]
    fn words_are_all_required_and_bars_make_alternatives() {
        assert_eq!(p("诈骗|骗 民警"), [vec!["诈骗", "骗"], vec!["民警"]]);
        assert_eq!(p("诈骗 | 骗　民警"), p("诈骗|骗 民警"));
        assert_eq!(p("诈骗｜骗，民警"), p("诈骗|骗 民警"));
        assert_eq!(p("出警、态度"), [vec!["出警"], vec!["态度"]]);
        assert_eq!(p("a;b；c,d"), [["a"], ["b"], ["c"], ["d"]]);
        assert_eq!(p("  |骗||诈骗|  "), [vec!["骗", "诈骗"]]);
        assert_eq!(p("APP app 骗|骗"), [vec!["app"], vec!["骗"]]);
        assert!(p(" 、 | ").is_empty());
        assert_eq!(p("a|b c|d"), [vec!["a", "b"], vec!["c", "d"]]);
    }

    #[test]
    fn words_are_bounded() {
        assert_eq!(p(&"a ".repeat(MAX_WORDS)).len(), 1);
        let many: Vec<String> = (0..=MAX_WORDS).map(|i| i.to_string()).collect();
        assert_eq!(parse(&many.join(" ")), Err(SearchError::TooManyWords));
        assert_eq!(parse(&many.join("|")), Err(SearchError::TooManyWords));
        let long = "骗".repeat(MAX_WORD_CHARS + 1);
        assert_eq!(
            parse(&format!("民警 {long}")),
            Err(SearchError::WordTooLong(2))
        );
        assert_eq!(p(&"骗".repeat(MAX_WORD_CHARS)).len(), 1);
        // The mark of masked data is no word: `*` would find `***号*单元***室`.
        for q in ["*", "138*", "单元 ＊", "a|*"] {
            assert_eq!(parse(q), Err(SearchError::Masked), "{q}");
        }
    }

    #[test]
    fn masked_spans_are_not_searchable() {
        let text = mask(
            "我叫王小明，手机13812345678，身份证11010519491231002X，车牌冀DA1234，\
             邮箱Zhang.San@QQ.com，卡号6222021234567890128，QQ号123456789，北京被骗了",
        )
        .text;
        let s = searchable(&text);
        for hidden in [
            "138", "5678", "002x", "110", "冀d", "34", "qq.com", "@", "6222", "0128", "89", "王",
        ] {
            assert!(!s.contains(hidden), "{hidden:?} in {s:?}");
        }
        for shown in [
            "我叫",
            "手机",
            "身份证",
            "车牌",
            "邮箱",
            "qq号",
            "北京被骗了",
        ] {
            assert!(s.contains(shown), "{shown:?} not in {s:?}");
        }
        assert_eq!(searchable("ABC 3**5"), "abc 3**5");
        assert_eq!(searchable("出警APP"), "出警app");
    }

    #[test]
    fn clickhouse_cuts_the_same_spans() {
        let (_, sql) = crate::pipelines::CLICKHOUSE_SCHEMA
            .iter()
            .find(|(name, _)| *name == "005_search.sql")
            .unwrap();
        let literal = format!("'{}'", MASKED_SPAN.replace('\\', "\\\\"));
        assert!(sql.contains(&literal), "{literal}");
    }

    #[test]
    fn matching_is_substring_and_per_group() {
        let s = searchable("被骗了两万，民警说是电信诈骗");
        assert!(matches(&s, &p("诈骗")));
        assert!(matches(&s, &p("骗")));
        assert!(matches(&s, &p("电信诈骗 民警")));
        assert!(matches(&s, &p("盗窃|骗 民警")));
        assert!(!matches(&s, &p("盗窃 民警")));
        assert!(!matches(&s, &p("两万民警")));
    }
}
