//! Reply parsing for revisit channels. The SMS revisit reads "满意回1;基本满意
//! 回2;不满意回3", and people answer "1", "１", "回复1", "3，出警太慢",
//! "满意", "基本满意", "不满意！…". A leading answer becomes the rating; the
//! rest is the text. Only the start of the reply is read: "民警态度不满意"
//! is a complaint to be scored, not an answer.

use crate::model::Rating;

/// Answer words, longest first so "基本满意" wins over "满意".
const WORDS: &[(&str, Rating)] = &[
    ("非常不满意", Rating::Dissatisfied),
    ("很不满意", Rating::Dissatisfied),
    ("不太满意", Rating::Dissatisfied),
    ("不满意", Rating::Dissatisfied),
    ("基本满意", Rating::BasicallySatisfied),
    ("比较满意", Rating::BasicallySatisfied),
    ("还算满意", Rating::BasicallySatisfied),
    ("非常满意", Rating::Satisfied),
    ("十分满意", Rating::Satisfied),
    ("很满意", Rating::Satisfied),
    ("满意", Rating::Satisfied),
];

const PREFIXES: &[&str] = &["回复", "答复", "回", "选"];

fn is_separator(c: char) -> bool {
    c.is_whitespace() || ",.!?;:、。，！？；：-—~～()（）[]【】\"'“”".contains(c)
}

/// Parses a leading answer from normalised text (see [`super::normalize`]).
/// Returns the rating and how many characters the answer and the separators
/// after it take.
pub fn parse_reply(normalized: &str) -> Option<(Rating, usize)> {
    let chars: Vec<char> = normalized.chars().collect();
    let mut i = chars.iter().take_while(|c| c.is_whitespace()).count();
    let rest: String = chars[i..].iter().collect();
    if let Some(p) = PREFIXES.iter().find(|p| rest.starts_with(*p)) {
        i += p.chars().count();
        i += chars[i..]
            .iter()
            .take_while(|c| c.is_whitespace() || **c == ':')
            .count();
    }
    let rest: String = chars[i..].iter().collect();
    let (rating, len) = if let Some(d) = chars.get(i).and_then(|c| c.to_digit(10)) {
        // "12345热线" is not an answer: the digit must stand alone.
        if chars.get(i + 1).is_some_and(|c| c.is_ascii_alphanumeric()) {
            return None;
        }
        (Rating::from_number(d as u8)?, 1)
    } else {
        let (word, rating) = WORDS.iter().find(|(w, _)| rest.starts_with(w))?;
        let len = word.chars().count();
        // "满意度" is a noun, not an answer.
        if chars.get(i + len) == Some(&'度') {
            return None;
        }
        // A particle closing the answer belongs to it ("基本满意吧", "满意了，
        // 谢谢"), not one that goes on ("不满意的是出警太慢").
        let particle = chars
            .get(i + len)
            .is_some_and(|c| "吧啊呀了的哈呢啦嘛".contains(*c))
            && chars.get(i + len + 1).is_none_or(|c| is_separator(*c));
        // "不满意的是出警太慢": the answer opens a sentence; the rating holds
        // and the sentence stays whole.
        if chars.get(i + len) == Some(&'的') && !particle {
            return Some((*rating, 0));
        }
        (*rating, len + usize::from(particle))
    };
    i += len;
    i += chars[i..].iter().take_while(|c| is_separator(**c)).count();
    Some((rating, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Option<(Rating, String)> {
        parse_reply(s).map(|(r, n)| (r, s.chars().skip(n).collect()))
    }

    #[test]
    fn digits_with_and_without_prefix() {
        assert_eq!(p("1"), Some((Rating::Satisfied, "".into())));
        assert_eq!(p(" 2 "), Some((Rating::BasicallySatisfied, "".into())));
        assert_eq!(p("回复1"), Some((Rating::Satisfied, "".into())));
        assert_eq!(p("回3"), Some((Rating::Dissatisfied, "".into())));
        assert_eq!(
            p("3,出警太慢"),
            Some((Rating::Dissatisfied, "出警太慢".into()))
        );
        assert_eq!(
            p("3。出警太慢了"),
            Some((Rating::Dissatisfied, "出警太慢了".into()))
        );
        assert_eq!(
            p("3出警太慢"),
            Some((Rating::Dissatisfied, "出警太慢".into()))
        );
    }

    #[test]
    fn words() {
        assert_eq!(p("满意"), Some((Rating::Satisfied, "".into())));
        assert_eq!(p("基本满意"), Some((Rating::BasicallySatisfied, "".into())));
        assert_eq!(
            p("不满意!民警半小时才到"),
            Some((Rating::Dissatisfied, "民警半小时才到".into()))
        );
        assert_eq!(
            p("非常满意,谢谢民警"),
            Some((Rating::Satisfied, "谢谢民警".into()))
        );
        assert_eq!(
            p("基本满意吧"),
            Some((Rating::BasicallySatisfied, "".into()))
        );
        assert_eq!(p("满意了,谢谢"), Some((Rating::Satisfied, "谢谢".into())));
        assert_eq!(
            p("不满意的是出警太慢"),
            Some((Rating::Dissatisfied, "不满意的是出警太慢".into()))
        );
    }

    #[test]
    fn not_answers() {
        assert_eq!(p("12345热线打不通"), None);
        assert_eq!(p("4"), None);
        assert_eq!(p("满意度太低"), None);
        assert_eq!(p("民警态度不满意"), None);
        assert_eq!(p(""), None);
        assert_eq!(p("10点报的警"), None);
    }
}
