//! Reading the XML that storage APIs answer with (S3's `ListBucketResult`,
//! Azure's `EnumerationResults`, their error bodies).
//!
//! [`parse`] checks the whole document once — tags balanced and closed, one
//! root element, entities known — and returns its root [`Element`]. Walking
//! the tree after that cannot fail: [`Element::children`],
//! [`Element::descendants`], [`Element::child_text`] and
//! [`Element::attribute`] borrow from the response text and unescape on
//! demand. Namespaces are matched by local name (`<x:Key>` is `Key`); DTDs
//! are refused, so no entity can expand.
//!
//! ```
//! use tributary_sdk::xml;
//!
//! let body = r#"<?xml version="1.0" encoding="UTF-8"?>
//! <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
//!   <Contents><Key>a &amp; b.txt</Key><Size>5</Size></Contents>
//!   <Contents><Key>c.txt</Key><Size>7</Size></Contents>
//!   <IsTruncated>false</IsTruncated>
//! </ListBucketResult>"#;
//! let root = xml::parse(body)?;
//! let keys: Vec<String> = root
//!     .descendants("Contents")
//!     .filter_map(|contents| contents.child_text("Key"))
//!     .collect();
//! assert_eq!(keys, ["a & b.txt", "c.txt"]);
//! assert_eq!(root.child_text("IsTruncated").as_deref(), Some("false"));
//! # Ok::<(), tributary_sdk::xml::XmlError>(())
//! ```

use std::borrow::Cow;
use std::fmt;

/// Why a document is not well-formed, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlError {
    /// Byte offset in the document where the problem was found.
    pub offset: usize,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for XmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed XML at byte {}: {}", self.offset, self.reason)
    }
}

impl std::error::Error for XmlError {}

/// One element of a parsed document: its name, its attributes and what lies
/// between its start and end tags, all borrowed from the document text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Element<'a> {
    name: &'a str,
    attributes: &'a str,
    content: &'a str,
}

/// Checks `text` as a whole and returns its root element.
pub fn parse(text: &str) -> Result<Element<'_>, XmlError> {
    let mut stack: Vec<&str> = Vec::new();
    let mut root: Option<Element<'_>> = None;
    let mut root_content_start = 0;
    let mut position = 0;
    for token in Tokens::checking(text) {
        let (start, token) = token?;
        position = start;
        match token {
            Token::Start {
                name,
                attributes,
                self_closing,
                end,
            } => {
                check_attributes(attributes, start)?;
                if stack.is_empty() {
                    if root.is_some() {
                        return Err(error(start, "a second root element"));
                    }
                    root = Some(Element {
                        name,
                        attributes,
                        content: "",
                    });
                    root_content_start = end;
                }
                if !self_closing {
                    stack.push(name);
                }
            }
            Token::End { name, .. } => match stack.pop() {
                Some(open) if open == name => {
                    if stack.is_empty() {
                        if let Some(root) = root.as_mut() {
                            root.content = &text[root_content_start..start];
                        }
                    }
                }
                Some(open) => return Err(error(start, format!("</{name}> closes <{open}>"))),
                None => return Err(error(start, format!("</{name}> closes nothing"))),
            },
            Token::Text(raw) => {
                if stack.is_empty() && !raw.trim().is_empty() {
                    return Err(error(start, "text outside the root element"));
                }
                check_entities(raw, start)?;
            }
            Token::CData(_) if stack.is_empty() => {
                return Err(error(start, "CDATA outside the root element"));
            }
            Token::CData(_) | Token::Skipped => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(error(
            text.len().max(position),
            format!("<{open}> is never closed"),
        ));
    }
    root.ok_or_else(|| error(0, "no root element"))
}

impl<'a> Element<'a> {
    /// The element's local name, without a namespace prefix.
    pub fn name(&self) -> &'a str {
        local_name(self.name)
    }

    /// The element's direct child elements, in document order.
    pub fn children(&self) -> impl Iterator<Item = Element<'a>> + 'a {
        let content = self.content;
        let mut tokens = Tokens::new(content);
        std::iter::from_fn(move || loop {
            match tokens.next()?.ok()? {
                (
                    _,
                    Token::Start {
                        name,
                        attributes,
                        self_closing,
                        end,
                    },
                ) => return Some(tokens.element(name, attributes, self_closing, end)),
                (_, Token::End { .. }) => return None,
                _ => {}
            }
        })
    }

    /// The direct child elements named `name` (local name), in document order.
    pub fn children_named(&self, name: &'a str) -> impl Iterator<Item = Element<'a>> + 'a {
        self.children().filter(move |child| child.name() == name)
    }

    /// The first direct child element named `name`.
    pub fn child(&self, name: &str) -> Option<Element<'a>> {
        self.children().find(|child| child.name() == name)
    }

    /// The first direct child with each of `names`, found in one walk over
    /// the children that stops once all are found. Reading several fields of
    /// one element this way reads it once, not once per field. A name given
    /// twice takes the first two children of that name.
    ///
    /// ```
    /// let root = tributary_sdk::xml::parse("<o><Size>5</Size><Key>k</Key></o>")?;
    /// let [key, size, etag] = root.first_children(["Key", "Size", "ETag"]);
    /// assert_eq!(key.map(|k| k.text()).as_deref(), Some("k"));
    /// assert_eq!(size.map(|s| s.text()).as_deref(), Some("5"));
    /// assert!(etag.is_none());
    /// # Ok::<(), tributary_sdk::xml::XmlError>(())
    /// ```
    pub fn first_children<const N: usize>(&self, names: [&str; N]) -> [Option<Element<'a>>; N] {
        let mut found = [None; N];
        let mut missing = N;
        if missing == 0 {
            return found;
        }
        for child in self.children() {
            let name = child.name();
            if let Some(slot) = names
                .iter()
                .zip(found.iter_mut())
                .find_map(|(wanted, slot)| (*wanted == name && slot.is_none()).then_some(slot))
            {
                *slot = Some(child);
                missing -= 1;
                if missing == 0 {
                    // Not even the next child's end is looked for.
                    break;
                }
            }
        }
        found
    }

    /// The text of the first direct child named `name` (see [`Element::text`]).
    pub fn child_text(&self, name: &str) -> Option<String> {
        self.child(name).map(|child| child.text())
    }

    /// Every element named `name` below this one, at any depth, in document
    /// order. A match's own content is not searched for further matches.
    pub fn descendants(&self, name: &'a str) -> impl Iterator<Item = Element<'a>> + 'a {
        let content = self.content;
        let mut tokens = Tokens::new(content);
        std::iter::from_fn(move || loop {
            if let (
                _,
                Token::Start {
                    name: found,
                    attributes,
                    self_closing,
                    end,
                },
            ) = tokens.next()?.ok()?
            {
                if local_name(found) == name {
                    return Some(tokens.element(found, attributes, self_closing, end));
                }
            }
        })
    }

    /// All text inside the element, child elements' text included, with
    /// entities and character references replaced and CDATA sections taken
    /// as they are. Whitespace is kept: object keys may begin or end with it.
    pub fn text(&self) -> String {
        let mut out = String::with_capacity(self.content.len());
        for token in Tokens::new(self.content) {
            match token {
                Ok((_, Token::Text(raw))) => out.push_str(&unescape(raw)),
                Ok((_, Token::CData(data))) => out.push_str(data),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        out
    }

    /// The value of the attribute `name` (local name), unescaped.
    pub fn attribute(&self, name: &str) -> Option<String> {
        attributes(self.attributes)
            .find(|(key, _)| local_name(key) == name)
            .map(|(_, value)| unescape(value).into_owned())
    }
}

/// Replaces the five predefined entities and numeric character references
/// (`&#38;`, `&#x26;`) in `text`. Unknown or invalid references are kept as
/// they are ([`parse`] refuses documents that contain them).
pub fn unescape(text: &str) -> Cow<'_, str> {
    if !text.contains('&') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp..];
        match after
            .find(';')
            .and_then(|semi| entity_value(&after[1..semi]).map(|value| (value, semi)))
        {
            Some((value, semi)) => {
                out.push(value);
                rest = &after[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// The character an entity or character reference (between `&` and `;`) stands for.
fn entity_value(entity: &str) -> Option<char> {
    match entity {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => {
            let number = entity.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(code)
        }
    }
}

fn check_entities(raw: &str, offset: usize) -> Result<(), XmlError> {
    let mut rest = raw;
    let mut at = offset;
    while let Some(amp) = rest.find('&') {
        let after = &rest[amp..];
        let valid = after
            .find(';')
            .is_some_and(|semi| entity_value(&after[1..semi]).is_some());
        if !valid {
            return Err(error(at + amp, "an unknown entity or an `&` not escaped"));
        }
        at += amp + 1;
        rest = &after[1..];
    }
    Ok(())
}

fn check_attributes(raw: &str, offset: usize) -> Result<(), XmlError> {
    let mut rest = raw.trim();
    while !rest.is_empty() {
        let Some((name, value, after)) = split_attribute(rest) else {
            return Err(error(offset, "an attribute is not `name=\"value\"`"));
        };
        if name.is_empty() {
            return Err(error(offset, "an attribute has no name"));
        }
        check_entities(value, offset)?;
        rest = after.trim_start();
    }
    Ok(())
}

/// `(name, raw value)` pairs of a start tag's attribute text.
fn attributes(raw: &str) -> impl Iterator<Item = (&str, &str)> {
    let mut rest = raw.trim();
    std::iter::from_fn(move || {
        let (name, value, after) = split_attribute(rest)?;
        rest = after.trim_start();
        Some((name, value))
    })
}

/// Splits `name="value" rest…` (or single quotes) into its parts.
fn split_attribute(text: &str) -> Option<(&str, &str, &str)> {
    let (name, after) = text.split_once('=')?;
    let after = after.trim_start();
    let quote = after.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value_and_rest = &after[1..];
    let close = value_and_rest.find(quote)?;
    Some((
        name.trim(),
        &value_and_rest[..close],
        &value_and_rest[close + 1..],
    ))
}

fn local_name(name: &str) -> &str {
    name.rsplit_once(':').map_or(name, |(_, local)| local)
}

fn error(offset: usize, reason: impl Into<String>) -> XmlError {
    XmlError {
        offset,
        reason: reason.into(),
    }
}

/// One piece of markup or text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token<'a> {
    /// `<name attributes>` or `<name attributes/>`; `end` is the offset just
    /// past the `>`.
    Start {
        name: &'a str,
        attributes: &'a str,
        self_closing: bool,
        end: usize,
    },
    /// `</name>`.
    End { name: &'a str },
    /// Character data, still escaped.
    Text(&'a str),
    /// The inside of `<![CDATA[…]]>`.
    CData(&'a str),
    /// A declaration, processing instruction or comment.
    Skipped,
}

/// The tokens of `text`, each with its start offset.
struct Tokens<'a> {
    text: &'a str,
    position: usize,
    failed: bool,
    /// Whether tag names are checked: in [`parse`]'s one pass over a
    /// document, not again in the walks over what it accepted.
    check_names: bool,
}

impl<'a> Tokens<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            position: 0,
            failed: false,
            check_names: false,
        }
    }

    /// Tokens that also refuse invalid tag names.
    fn checking(text: &'a str) -> Self {
        Self {
            check_names: true,
            ..Self::new(text)
        }
    }

    /// The element whose start tag ended at `end`: reads on to its matching
    /// end tag, leaving the tokens just past it.
    fn element(
        &mut self,
        name: &'a str,
        attributes: &'a str,
        self_closing: bool,
        end: usize,
    ) -> Element<'a> {
        if self_closing {
            return Element {
                name,
                attributes,
                content: "",
            };
        }
        let mut depth = 0usize;
        let mut content_end = self.text.len();
        for token in self.by_ref() {
            match token {
                Ok((_, Token::Start { self_closing, .. })) => {
                    if !self_closing {
                        depth += 1;
                    }
                }
                Ok((at, Token::End { .. })) => {
                    if depth == 0 {
                        content_end = at;
                        break;
                    }
                    depth -= 1;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        Element {
            name,
            attributes,
            content: &self.text[end..content_end],
        }
    }

    fn fail(&mut self, at: usize, reason: &str) -> Option<Result<(usize, Token<'a>), XmlError>> {
        self.failed = true;
        Some(Err(error(at, reason)))
    }
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Result<(usize, Token<'a>), XmlError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.position >= self.text.len() {
            return None;
        }
        let start = self.position;
        let rest = &self.text[start..];
        if !rest.starts_with('<') {
            let length = rest.find('<').unwrap_or(rest.len());
            self.position += length;
            return Some(Ok((start, Token::Text(&rest[..length]))));
        }
        let (skip_to, token) = if let Some(inner) = rest.strip_prefix("<!--") {
            match inner.find("-->") {
                Some(close) => (4 + close + 3, Token::Skipped),
                None => return self.fail(start, "a comment is never closed"),
            }
        } else if let Some(inner) = rest.strip_prefix("<![CDATA[") {
            match inner.find("]]>") {
                Some(close) => (9 + close + 3, Token::CData(&inner[..close])),
                None => return self.fail(start, "a CDATA section is never closed"),
            }
        } else if rest.starts_with("<!") {
            return self.fail(start, "DTDs and other declarations are not accepted");
        } else if let Some(inner) = rest.strip_prefix("<?") {
            match inner.find("?>") {
                Some(close) => (2 + close + 2, Token::Skipped),
                None => return self.fail(start, "a processing instruction is never closed"),
            }
        } else {
            let Some(close) = tag_end(rest) else {
                return self.fail(start, "a tag is never closed");
            };
            let tag = &rest[1..close];
            if let Some(name) = tag.strip_prefix('/') {
                let name = name.trim_end();
                if self.check_names && !is_name(name) {
                    return self.fail(start, "an end tag has no valid name");
                }
                (close + 1, Token::End { name })
            } else {
                let (tag, self_closing) = match tag.strip_suffix('/') {
                    Some(tag) => (tag, true),
                    None => (tag, false),
                };
                let name_end = tag.bytes().position(is_xml_space).unwrap_or(tag.len());
                let name = &tag[..name_end];
                if self.check_names && !is_name(name) {
                    return self.fail(start, "a start tag has no valid name");
                }
                (
                    close + 1,
                    Token::Start {
                        name,
                        attributes: &tag[name_end..],
                        self_closing,
                        end: start + close + 1,
                    },
                )
            }
        };
        self.position += skip_to;
        Some(Ok((start, token)))
    }
}

/// The offset of the `>` that closes the tag at the start of `text`, skipping
/// quoted attribute values. Scans bytes: every delimiter is ASCII, and in
/// UTF-8 no byte of a multi-byte character is.
fn tag_end(text: &str) -> Option<usize> {
    let mut quote = None;
    for (index, &byte) in text.as_bytes().iter().enumerate().skip(1) {
        match (quote, byte) {
            (None, b'"' | b'\'') => quote = Some(byte),
            (Some(open), _) if byte == open => quote = None,
            (None, b'>') => return Some(index),
            (None, b'<') => return None,
            _ => {}
        }
    }
    None
}

/// XML's own white space (space, tab, carriage return, line feed).
fn is_xml_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_name(name: &str) -> bool {
    if name.is_ascii() {
        // The common case, without decoding characters.
        let mut bytes = name.bytes();
        return bytes
            .next()
            .is_some_and(|first| first.is_ascii_alphabetic() || matches!(first, b'_' | b':'))
            && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b':' | b'-' | b'.'));
    }
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_alphabetic() || first == '_' || first == ':')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | ':' | '-' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTING: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- a listing -->
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>bucket</Name>
  <Contents>
    <Key> spaced &amp; "quoted" &lt;key&gt; </Key>
    <ETag>&quot;abc&quot;</ETag>
    <Size>12</Size>
  </Contents>
  <Contents><Key>caf&#233;/&#x1F600;.txt</Key><Size>3</Size><Owner><ID>x</ID></Owner></Contents>
  <Contents><Key><![CDATA[a<b>&c]]></Key><Size>0</Size></Contents>
  <NextContinuationToken/>
  <IsTruncated>true</IsTruncated>
</ListBucketResult>
"#;

    #[test]
    fn walks_children_and_descendants_with_unescaped_text() {
        let root = parse(LISTING).unwrap();
        assert_eq!(root.name(), "ListBucketResult");
        assert_eq!(
            root.attribute("xmlns").as_deref(),
            Some("http://s3.amazonaws.com/doc/2006-03-01/")
        );
        let keys: Vec<String> = root
            .children_named("Contents")
            .map(|c| c.child_text("Key").unwrap())
            .collect();
        assert_eq!(
            keys,
            [" spaced & \"quoted\" <key> ", "café/😀.txt", "a<b>&c"]
        );
        assert_eq!(root.descendants("Contents").count(), 3);
        assert_eq!(root.descendants("ETag").next().unwrap().text(), "\"abc\"");
        // `ID` only exists below `Owner`: not a child of `Contents`, but a descendant.
        let second = root.children_named("Contents").nth(1).unwrap();
        assert_eq!(second.child("ID"), None);
        assert_eq!(second.descendants("ID").next().unwrap().text(), "x");
        assert_eq!(
            root.child_text("NextContinuationToken").as_deref(),
            Some("")
        );
        assert_eq!(root.child_text("IsTruncated").as_deref(), Some("true"));
        assert_eq!(root.child_text("Missing"), None);
    }

    #[test]
    fn first_children_takes_the_first_direct_child_of_each_name() {
        let root = parse(LISTING).unwrap();
        let [contents, truncated, id, name] =
            root.first_children(["Contents", "IsTruncated", "ID", "Name"]);
        // The first of three `Contents`, not a later one.
        assert_eq!(
            contents.unwrap().child_text("Key").unwrap(),
            " spaced & \"quoted\" <key> "
        );
        assert_eq!(truncated.unwrap().text(), "true");
        // `ID` is a grandchild only.
        assert_eq!(id, None);
        assert_eq!(name.unwrap().text(), "bucket");
        // Asking for one name twice fills the second slot with the next match.
        let [first, second] = root.first_children(["Contents", "Contents"]);
        assert_eq!(first.unwrap().child_text("Size").as_deref(), Some("12"));
        assert_eq!(second.unwrap().child_text("Size").as_deref(), Some("3"));
    }

    #[test]
    fn nested_same_name_elements_close_at_the_right_tag() {
        let root = parse("<a><b><b>inner</b>tail</b><c>1</c></a>").unwrap();
        let b = root.child("b").unwrap();
        assert_eq!(b.text(), "innertail");
        assert_eq!(b.child_text("b").as_deref(), Some("inner"));
        assert_eq!(root.child_text("c").as_deref(), Some("1"));
        assert_eq!(root.children().count(), 2);
    }

    #[test]
    fn namespaced_names_and_attributes_match_by_local_name() {
        let root =
            parse(r#"<s:Root xmlns:s="urn:x"><s:Item s:kind='a &amp; b' other = "2"/></s:Root>"#)
                .unwrap();
        assert_eq!(root.name(), "Root");
        let item = root.child("Item").unwrap();
        assert_eq!(item.attribute("kind").as_deref(), Some("a & b"));
        assert_eq!(item.attribute("other").as_deref(), Some("2"));
        assert_eq!(item.attribute("missing"), None);
        assert_eq!(item.text(), "");
    }

    #[test]
    fn a_greater_than_inside_an_attribute_does_not_end_the_tag() {
        let root = parse(r#"<a note="x > y"><b>1</b></a>"#).unwrap();
        assert_eq!(root.attribute("note").as_deref(), Some("x > y"));
        assert_eq!(root.child_text("b").as_deref(), Some("1"));
    }

    #[test]
    fn malformed_documents_are_refused_with_a_position() {
        for (text, reason) in [
            ("", "no root element"),
            ("<a><b></a>", "closes"),
            ("<a><b>", "never closed"),
            ("<a></a><b></b>", "second root"),
            ("<a>x &nbsp; y</a>", "unknown entity"),
            ("<a>fish & chips</a>", "unknown entity"),
            ("<a", "never closed"),
            ("<a><!-- open</a>", "comment"),
            ("<!DOCTYPE a [<!ENTITY e 'boom'>]><a>&e;</a>", "DTD"),
            ("text<a/>", "outside the root"),
            ("<a x=1></a>", "attribute"),
            ("<1a></1a>", "valid name"),
            ("</a>", "closes nothing"),
        ] {
            let problem = parse(text).expect_err(text);
            assert!(
                problem.reason.contains(reason),
                "{text:?}: {problem} should mention {reason:?}"
            );
        }
        let problem = parse("<a>\n<b></c></a>").unwrap_err();
        assert_eq!(problem.offset, 7);
    }

    #[test]
    fn unescape_replaces_known_references_and_keeps_the_rest() {
        assert_eq!(unescape("plain"), "plain");
        assert!(matches!(unescape("plain"), Cow::Borrowed(_)));
        assert_eq!(
            unescape("&lt;&gt;&amp;&quot;&apos;&#65;&#x42;&#X43;"),
            "<>&\"'ABC"
        );
        assert_eq!(unescape("a & b &bogus; &#xZZ; &"), "a & b &bogus; &#xZZ; &");
        assert_eq!(unescape("&amp;amp;"), "&amp;");
    }

    #[test]
    fn a_self_closing_root_is_an_empty_element() {
        let root = parse("<?xml version='1.0'?>\n<Empty/>\n").unwrap();
        assert_eq!(root.name(), "Empty");
        assert_eq!(root.children().count(), 0);
        assert_eq!(root.text(), "");
    }
}
