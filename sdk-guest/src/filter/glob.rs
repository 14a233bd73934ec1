//! Segment-aware glob patterns matched against whole keys.
//!
//! Syntax: `*` matches any run of characters within one path segment (never `/`),
//! `**` as a whole segment matches any number of segments (`a/**/b` matches `a/b`,
//! `**/x` matches `x`, a trailing `/**` matches at least one segment), `?` matches one
//! character other than `/`, `[abc]`, `[a-z]` and `[!abc]` (or `[^abc]`) match one
//! character of (or not of) a class, `{a,b}` matches either alternative, and `\`
//! escapes the next character. Matching is case-sensitive.

use std::fmt;

/// Most alternatives a pattern's `{…}` groups may expand to.
const MAX_ALTERNATIVES: usize = 256;

/// A compiled glob pattern.
#[derive(Debug, Clone)]
pub struct Glob {
    source: String,
    /// One sequence of segments per `{…}` alternative.
    alternatives: Vec<Vec<Segment>>,
}

/// Why a pattern could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobError {
    /// The pattern as given.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for GlobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid glob pattern {:?}: {}",
            self.pattern, self.reason
        )
    }
}

impl std::error::Error for GlobError {}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// `**`: any number of whole segments. `at_least_one` for a trailing `/**`.
    AnyDepth { at_least_one: bool },
    /// A segment without wildcards.
    Literal(String),
    /// A segment with wildcards.
    Wild(Vec<Token>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Char(char),
    AnyChars,
    AnyChar,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Glob {
    /// Compiles `pattern`, or says why it is invalid.
    pub fn new(pattern: &str) -> Result<Self, GlobError> {
        let error = |reason: &str| GlobError {
            pattern: pattern.to_owned(),
            reason: reason.to_owned(),
        };
        if pattern.is_empty() {
            return Err(error("the pattern is empty"));
        }
        let mut expanded = Vec::new();
        expand_braces(pattern, &mut expanded).map_err(|reason| error(&reason))?;
        let alternatives = expanded
            .iter()
            .map(|alternative| compile_segments(alternative))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|reason| error(&reason))?;
        Ok(Self {
            source: pattern.to_owned(),
            alternatives,
        })
    }

    /// The pattern as given.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the whole `key` matches.
    pub fn is_match(&self, key: &str) -> bool {
        self.alternatives.iter().any(|segments| {
            let states = advance(segments, key.split('/'));
            states[segments.len()]
        })
    }

    /// Whether some key under the directory `dir` (`dir/…`, at least one more segment)
    /// could match. `dir` is given without a trailing `/`; `""` is the root.
    pub fn may_match_under(&self, dir: &str) -> bool {
        if dir.is_empty() {
            return true;
        }
        self.alternatives.iter().any(|segments| {
            let states = advance(segments, dir.split('/'));
            states[..segments.len()].iter().any(|&alive| alive)
        })
    }

    /// Whether every key under the directory `dir` (`dir/…`) matches, e.g. `dir/**`.
    /// `dir` is given without a trailing `/`; `""` is the root.
    pub fn matches_everything_under(&self, dir: &str) -> bool {
        self.alternatives.iter().any(|segments| {
            let states = if dir.is_empty() {
                initial_states(segments)
            } else {
                advance(segments, dir.split('/'))
            };
            let last = segments.len() - 1;
            states[last] && matches!(segments[last], Segment::AnyDepth { .. })
        })
    }
}

/// The states (pattern segment indices) reachable before consuming any key segment.
fn initial_states(segments: &[Segment]) -> Vec<bool> {
    let mut states = vec![false; segments.len() + 1];
    states[0] = true;
    skip_optional(segments, &mut states);
    states
}

/// The states reachable after consuming every segment of `key_segments`.
fn advance<'k>(segments: &[Segment], key_segments: impl Iterator<Item = &'k str>) -> Vec<bool> {
    let mut states = initial_states(segments);
    let mut next = vec![false; segments.len() + 1];
    for key_segment in key_segments {
        next.iter_mut().for_each(|state| *state = false);
        let mut any = false;
        for (index, segment) in segments.iter().enumerate() {
            if !states[index] {
                continue;
            }
            match segment {
                Segment::AnyDepth { .. } => {
                    next[index] = true;
                    next[index + 1] = true;
                    any = true;
                }
                Segment::Literal(literal) if literal == key_segment => {
                    next[index + 1] = true;
                    any = true;
                }
                Segment::Literal(_) => {}
                Segment::Wild(tokens) => {
                    if match_segment(tokens, key_segment) {
                        next[index + 1] = true;
                        any = true;
                    }
                }
            }
        }
        skip_optional(segments, &mut next);
        std::mem::swap(&mut states, &mut next);
        if !any {
            break;
        }
    }
    states
}

/// Lets every reachable `**` (other than a trailing one) match zero segments.
fn skip_optional(segments: &[Segment], states: &mut [bool]) {
    for (index, segment) in segments.iter().enumerate() {
        if states[index]
            && matches!(
                segment,
                Segment::AnyDepth {
                    at_least_one: false
                }
            )
        {
            states[index + 1] = true;
        }
    }
}

/// Matches one key segment against one pattern segment's tokens.
fn match_segment(tokens: &[Token], text: &str) -> bool {
    let mut token = 0;
    let mut at = 0;
    // After a `*`: the token following it and where in `text` that `*` stopped.
    let mut star: Option<(usize, usize)> = None;
    loop {
        if token < tokens.len() {
            if tokens[token] == Token::AnyChars {
                star = Some((token + 1, at));
                token += 1;
                continue;
            }
            if let Some(c) = text[at..].chars().next() {
                if token_matches(&tokens[token], c) {
                    token += 1;
                    at += c.len_utf8();
                    continue;
                }
            }
        } else if at == text.len() {
            return true;
        }
        // Mismatch: let the last `*` swallow one more character, if it can.
        match star {
            Some((after_star, from)) => match text[from..].chars().next() {
                Some(c) => {
                    let resumed = from + c.len_utf8();
                    star = Some((after_star, resumed));
                    token = after_star;
                    at = resumed;
                }
                None => return false,
            },
            None => return false,
        }
    }
}

fn token_matches(token: &Token, c: char) -> bool {
    match token {
        Token::Char(expected) => *expected == c,
        Token::AnyChar => true,
        Token::AnyChars => true,
        Token::Class { negated, ranges } => {
            let inside = ranges.iter().any(|&(low, high)| low <= c && c <= high);
            inside != *negated
        }
    }
}

/// Expands `{a,b}` groups into one pattern per alternative.
fn expand_braces(pattern: &str, out: &mut Vec<String>) -> Result<(), String> {
    let Some((open, close)) = find_brace_group(pattern)? else {
        if out.len() >= MAX_ALTERNATIVES {
            return Err(format!(
                "its {{…}} groups expand to more than {MAX_ALTERNATIVES} alternatives"
            ));
        }
        out.push(pattern.to_owned());
        return Ok(());
    };
    let (head, tail) = (&pattern[..open], &pattern[close + 1..]);
    for alternative in split_alternatives(&pattern[open + 1..close]) {
        expand_braces(&format!("{head}{alternative}{tail}"), out)?;
    }
    Ok(())
}

/// The byte positions of the first top-level `{` and its matching `}`.
fn find_brace_group(pattern: &str) -> Result<Option<(usize, usize)>, String> {
    let mut open = None;
    let mut depth = 0usize;
    let mut chars = pattern.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '[' => skip_class(&mut chars),
            '{' => {
                if depth == 0 {
                    open = Some(at);
                }
                depth += 1;
            }
            '}' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    return Ok(open.map(|open| (open, at)));
                }
            }
            '}' => return Err("'}' without a matching '{'".to_owned()),
            _ => {}
        }
    }
    if depth > 0 {
        return Err("'{' without a matching '}'".to_owned());
    }
    Ok(None)
}

/// Splits the inside of a `{…}` group at its top-level commas.
fn split_alternatives(inner: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    let mut chars = inner.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '[' => skip_class(&mut chars),
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&inner[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
}

/// Advances past a character class whose `[` was just read (an unclosed one is left
/// for `compile_segments` to report).
fn skip_class(chars: &mut std::str::CharIndices<'_>) {
    let rest = chars.clone();
    let mut members = 0usize;
    if let Some((_, '!' | '^')) = chars.clone().next() {
        chars.next();
    }
    while let Some((_, c)) = chars.next() {
        match c {
            ']' if members > 0 => return,
            '\\' => {
                chars.next();
            }
            _ => {}
        }
        members += 1;
    }
    *chars = rest;
}

fn compile_segments(pattern: &str) -> Result<Vec<Segment>, String> {
    let parts: Vec<&str> = pattern.split('/').collect();
    let count = parts.len();
    let mut segments = Vec::with_capacity(count);
    for (index, part) in parts.into_iter().enumerate() {
        if part == "**" {
            // Two `**` in a row mean the same as one.
            if matches!(segments.last(), Some(Segment::AnyDepth { .. })) {
                continue;
            }
            segments.push(Segment::AnyDepth {
                at_least_one: index == count - 1 && count > 1,
            });
            continue;
        }
        let tokens = compile_tokens(part)?;
        if tokens.iter().all(|token| matches!(token, Token::Char(_))) {
            let literal = tokens
                .iter()
                .map(|token| match token {
                    Token::Char(c) => *c,
                    _ => unreachable!(),
                })
                .collect();
            segments.push(Segment::Literal(literal));
        } else {
            segments.push(Segment::Wild(tokens));
        }
    }
    Ok(segments)
}

fn compile_tokens(part: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = part.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => {
                // `**` inside a segment means the same as `*`.
                if tokens.last() != Some(&Token::AnyChars) {
                    tokens.push(Token::AnyChars);
                }
            }
            '?' => tokens.push(Token::AnyChar),
            '\\' => match chars.next() {
                Some(escaped) => tokens.push(Token::Char(escaped)),
                None => return Err("it ends with an escaping '\\'".to_owned()),
            },
            '[' => {
                let negated = matches!(chars.peek(), Some('!' | '^'));
                if negated {
                    chars.next();
                }
                let mut members = Vec::new();
                let mut closed = false;
                while let Some(member) = chars.next() {
                    if member == ']' && !members.is_empty() {
                        closed = true;
                        break;
                    }
                    let member = if member == '\\' {
                        chars
                            .next()
                            .ok_or_else(|| "it ends with an escaping '\\'".to_owned())?
                    } else {
                        member
                    };
                    members.push(member);
                }
                if !closed {
                    return Err(
                        "a character class '[' is not closed by ']' (a class cannot contain '/')"
                            .to_owned(),
                    );
                }
                tokens.push(Token::Class {
                    negated,
                    ranges: class_ranges(&members)?,
                });
            }
            other => tokens.push(Token::Char(other)),
        }
    }
    Ok(tokens)
}

/// Turns the members of a class (`a-z0`) into inclusive ranges.
fn class_ranges(members: &[char]) -> Result<Vec<(char, char)>, String> {
    let mut ranges = Vec::new();
    let mut index = 0;
    while index < members.len() {
        let low = members[index];
        if index + 2 < members.len() && members[index + 1] == '-' {
            let high = members[index + 2];
            if high < low {
                return Err(format!("the class range '{low}-{high}' is reversed"));
            }
            ranges.push((low, high));
            index += 3;
        } else {
            ranges.push((low, low));
            index += 1;
        }
    }
    Ok(ranges)
}

/// The longest literal (glob-free) prefix shared by all `patterns`, cut back to its
/// last `/`, so that it names a directory-like prefix a provider can list under.
///
/// `photos/2024/*.jpg` gives `photos/2024/`, `photos/**` gives `photos/`, `*.jpg`
/// gives `""`, and `a/x/*` with `a/y/*` gives `a/`. No patterns give `""`.
pub fn literal_prefix(patterns: &[String]) -> String {
    let mut starts = patterns.iter().map(|pattern| {
        let end = pattern
            .find(['*', '?', '[', '{', '\\'])
            .unwrap_or(pattern.len());
        &pattern[..end]
    });
    let Some(first) = starts.next() else {
        return String::new();
    };
    let common = starts.fold(first, |common, start| {
        let shared = common
            .char_indices()
            .zip(start.chars())
            .find(|((_, a), b)| a != b)
            .map_or(common.len().min(start.len()), |((at, _), _)| at);
        &common[..shared]
    });
    // Cutting at a `/` (ASCII) always lands on a character boundary.
    match common.rfind('/') {
        Some(slash) => common[..=slash].to_owned(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(pattern: &str) -> Glob {
        Glob::new(pattern).unwrap_or_else(|error| panic!("{error}"))
    }

    fn matches(pattern: &str, key: &str) -> bool {
        glob(pattern).is_match(key)
    }

    #[test]
    fn star_stays_within_one_segment() {
        assert!(matches("*.jpg", "cat.jpg"));
        assert!(!matches("*.jpg", "photos/cat.jpg"));
        assert!(matches("photos/*.jpg", "photos/cat.jpg"));
        assert!(!matches("photos/*.jpg", "photos/2024/cat.jpg"));
        assert!(matches("photos/*", "photos/cat.jpg"));
        assert!(!matches("photos/*", "photos/2024/cat.jpg"));
        assert!(matches("*", "cat"));
        assert!(!matches("*", "a/b"));
        assert!(matches("a*b*c", "abc"));
        assert!(matches("a*b*c", "aXbYYc"));
        assert!(!matches("a*b*c", "aXbYYcd"));
        assert!(matches("*a*", "banana"));
        assert!(matches("*", ""));
    }

    #[test]
    fn double_star_crosses_segments() {
        assert!(matches("photos/**", "photos/cat.jpg"));
        assert!(matches("photos/**", "photos/2024/05/cat.jpg"));
        assert!(!matches("photos/**", "videos/cat.mp4"));
        assert!(matches("**/*.jpg", "cat.jpg"));
        assert!(matches("**/*.jpg", "a/b/c/cat.jpg"));
        assert!(!matches("**/*.jpg", "a/b/c/cat.png"));
        assert!(matches("**", "a"));
        assert!(matches("**", "a/b/c"));
    }

    #[test]
    fn double_star_matches_zero_segments_in_the_middle_and_at_the_start() {
        assert!(matches("a/**/b", "a/b"));
        assert!(matches("a/**/b", "a/x/b"));
        assert!(matches("a/**/b", "a/x/y/z/b"));
        assert!(!matches("a/**/b", "a/x/y/z/c"));
        assert!(!matches("a/**/b", "ab"));
        assert!(matches("**/b", "b"));
        assert!(matches("a/**/**/b", "a/b"));
        assert!(matches("a/**/b/**/c", "a/b/c"));
        assert!(matches("a/**/b/**/c", "a/1/b/2/3/c"));
    }

    #[test]
    fn trailing_double_star_needs_at_least_one_segment() {
        assert!(!matches("photos/**", "photos"));
        assert!(matches("photos/**", "photos/x"));
    }

    #[test]
    fn double_star_inside_a_segment_is_a_single_star() {
        assert!(matches("a**.jpg", "abc.jpg"));
        assert!(!matches("a**.jpg", "a/b.jpg"));
    }

    #[test]
    fn question_mark_is_one_character_but_never_a_slash() {
        assert!(matches("file?.txt", "file1.txt"));
        assert!(!matches("file?.txt", "file10.txt"));
        assert!(!matches("file?.txt", "file.txt"));
        assert!(!matches("a?b", "a/b"));
        assert!(matches("?", "é"));
    }

    #[test]
    fn classes_ranges_and_negation() {
        assert!(matches("file[abc].txt", "filea.txt"));
        assert!(!matches("file[abc].txt", "filed.txt"));
        assert!(matches("file[a-c0-9].txt", "file7.txt"));
        assert!(matches("file[!abc].txt", "filed.txt"));
        assert!(!matches("file[!abc].txt", "filea.txt"));
        assert!(matches("file[^abc].txt", "filed.txt"));
        assert!(matches("[]]", "]"));
        assert!(matches("[a-]", "-"));
        assert!(!matches("a[!x]b", "a/b"));
    }

    #[test]
    fn braces_choose_an_alternative() {
        assert!(matches("*.{jpg,png}", "cat.jpg"));
        assert!(matches("*.{jpg,png}", "cat.png"));
        assert!(!matches("*.{jpg,png}", "cat.gif"));
        assert!(matches("{photos,videos}/**", "videos/a/b.mp4"));
        assert!(matches("a/{b,c/{d,e}}/f", "a/c/e/f"));
        assert!(matches("x{,y}", "x"));
    }

    #[test]
    fn escapes_make_wildcards_literal() {
        assert!(matches(r"a\*b", "a*b"));
        assert!(!matches(r"a\*b", "axb"));
        assert!(matches(r"\[x\]", "[x]"));
    }

    #[test]
    fn the_whole_key_must_match() {
        assert!(!matches("photos", "photos/cat.jpg"));
        assert!(!matches("cat", "cat.jpg"));
        assert!(!matches("*.jpg", "cat.jpg.bak"));
        assert!(matches("photos/cat.jpg", "photos/cat.jpg"));
        assert!(!matches("Photos/cat.jpg", "photos/cat.jpg"));
    }

    #[test]
    fn unicode_keys() {
        assert!(matches("фото/*.jpg", "фото/кот.jpg"));
        assert!(matches("*é*", "café"));
        assert!(matches("[à-ü]", "é"));
    }

    #[test]
    fn invalid_patterns_say_what_is_wrong() {
        for (pattern, expected) in [
            ("", "empty"),
            ("[abc", "not closed"),
            ("a[/]b", "not closed"),
            ("{a,b", "'{' without"),
            ("a}", "'}' without"),
            ("abc\\", "escaping"),
            ("[z-a]", "reversed"),
        ] {
            let error = Glob::new(pattern).expect_err(pattern);
            assert!(error.to_string().contains(expected), "{pattern:?}: {error}");
            assert!(error.to_string().contains(&format!("{pattern:?}")));
        }
    }

    #[test]
    fn too_many_alternatives_are_refused() {
        let pattern = "{a,b,c,d}{a,b,c,d}{a,b,c,d}{a,b,c,d}{a,b}";
        assert!(Glob::new(pattern).is_err());
        assert!(Glob::new("{a,b,c,d}{a,b,c,d}{a,b,c,d}{a,b,c,d}").is_ok());
    }

    #[test]
    fn many_double_stars_stay_fast() {
        let pattern = "**/a/**/a/**/a/**/a/**/a/**/a/**/b";
        let key = ["a"; 200].join("/");
        assert!(!matches(pattern, &key));
        assert!(matches(pattern, &format!("{key}/b")));
        let stars = "*a".repeat(20);
        assert!(!matches(&stars, &"a".repeat(19)));
    }

    #[test]
    fn may_match_under_prunes_directories() {
        let g = glob("photos/2024/*.jpg");
        assert!(g.may_match_under(""));
        assert!(g.may_match_under("photos"));
        assert!(g.may_match_under("photos/2024"));
        assert!(!g.may_match_under("photos/2023"));
        assert!(!g.may_match_under("photos/2024/sub"));
        assert!(!g.may_match_under("videos"));

        let g = glob("photos/**");
        assert!(g.may_match_under("photos"));
        assert!(g.may_match_under("photos/a/b/c"));
        assert!(!g.may_match_under("videos"));

        let g = glob("**/*.jpg");
        assert!(g.may_match_under("anything/at/all"));

        let g = glob("a/**/b");
        assert!(g.may_match_under("a"));
        assert!(g.may_match_under("a/x/y"));
        assert!(!g.may_match_under("b"));

        let g = glob("{x,y}/*");
        assert!(g.may_match_under("y"));
        assert!(!g.may_match_under("z"));
        assert!(!g.may_match_under("x/deeper"));
    }

    #[test]
    fn matches_everything_under_spots_excluded_trees() {
        assert!(glob("tmp/**").matches_everything_under("tmp"));
        assert!(glob("tmp/**").matches_everything_under("tmp/a/b"));
        assert!(!glob("tmp/**").matches_everything_under("other"));
        assert!(!glob("tmp/**").matches_everything_under(""));
        assert!(glob("**/node_modules/**").matches_everything_under("web/app/node_modules"));
        assert!(!glob("**/node_modules/**").matches_everything_under("web/app"));
        assert!(!glob("tmp/*").matches_everything_under("tmp"));
        assert!(glob("**").matches_everything_under(""));
        assert!(glob("**").matches_everything_under("x"));
    }

    #[test]
    fn literal_prefix_cuts_back_to_a_directory() {
        let prefix = |patterns: &[&str]| {
            literal_prefix(&patterns.iter().map(|p| p.to_string()).collect::<Vec<_>>())
        };
        assert_eq!(prefix(&["photos/2024/*.jpg"]), "photos/2024/");
        assert_eq!(prefix(&["photos/**"]), "photos/");
        assert_eq!(prefix(&["*.jpg"]), "");
        assert_eq!(prefix(&["**/*.jpg"]), "");
        assert_eq!(prefix(&["a/x/*", "a/y/*"]), "a/");
        assert_eq!(prefix(&["a/x/*", "b/y/*"]), "");
        assert_eq!(prefix(&["photos/cat.jpg"]), "photos/");
        assert_eq!(
            prefix(&["photos/2024/a*", "photos/2024/b*"]),
            "photos/2024/"
        );
        assert_eq!(prefix(&["photos/20?4/x"]), "photos/");
        assert_eq!(prefix(&["photos/{a,b}/x"]), "photos/");
        assert_eq!(prefix(&["photos/[ab]/x"]), "photos/");
        assert_eq!(prefix(&["фото/а/*", "фото/б/*"]), "фото/");
        assert_eq!(prefix(&[]), "");
    }
}
