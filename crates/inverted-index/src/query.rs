//! The query language: `a b` / `a AND b`, `a OR b`, `-a` / `NOT a`, parentheses,
//! and quoted single words.

use crate::tokenize;
use std::fmt;

/// Deepest nesting of parentheses and negations [`Query::parse`] accepts. The
/// parser and the evaluator recurse once per level; 64 levels is far beyond
/// any query a person types and keeps the stack small.
pub const MAX_DEPTH: usize = 64;

/// A boolean query over tokens.
///
/// Build one with [`Query::parse`] (what a search box sends) or by hand. Terms
/// hold tokens as [`tokenize`] produces them (lower case): a hand-built
/// `Term("Rust")` matches nothing. `And(vec![])` matches every document and
/// `Or(vec![])` none. `Display` writes a string that parses back to the same
/// query for every query `parse` returns.
///
/// ```
/// use hld_inverted_index::Query;
/// let q = Query::parse("rust (async OR tokio) -java").unwrap();
/// assert_eq!(q.to_string(), "rust (async OR tokio) -java");
/// assert_eq!(Query::parse(&q.to_string()).unwrap(), q);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Query {
    /// Documents containing the token.
    Term(String),
    /// Documents matching every child.
    And(Vec<Query>),
    /// Documents matching at least one child.
    Or(Vec<Query>),
    /// Documents not matching the child (inside an AND: a filter; alone: all
    /// documents minus the child's).
    Not(Box<Query>),
}

/// Why a query string did not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The query has no terms at all.
    Empty,
    /// A `(` is never closed.
    UnclosedParen,
    /// A `)` has no matching `(`.
    UnmatchedParen,
    /// `()` with nothing inside.
    EmptyGroup,
    /// `OR` or `AND` with no operand on its left.
    MissingLeftOperand,
    /// `OR`, `AND`, `NOT` or `-` with no operand on its right.
    MissingRightOperand,
    /// A word with no letters or digits (`&`, `...`): it can never match.
    NoSearchableText,
    /// A `"` is never closed.
    UnclosedQuote,
    /// A quoted phrase of several words: the index keeps no positions, so it
    /// cannot check word order (quote single words only).
    PhraseUnsupported,
    /// Nesting deeper than [`MAX_DEPTH`].
    TooDeep,
}

impl ParseErrorKind {
    fn reason(self) -> &'static str {
        match self {
            ParseErrorKind::Empty => "the query is empty",
            ParseErrorKind::UnclosedParen => "this '(' is never closed",
            ParseErrorKind::UnmatchedParen => "this ')' has no matching '('",
            ParseErrorKind::EmptyGroup => "empty parentheses",
            ParseErrorKind::MissingLeftOperand => "operator has nothing on its left",
            ParseErrorKind::MissingRightOperand => "operator has nothing on its right",
            ParseErrorKind::NoSearchableText => "word has no letters or digits",
            ParseErrorKind::UnclosedQuote => "this '\"' is never closed",
            ParseErrorKind::PhraseUnsupported => {
                "phrases of several words are not supported (no positions are indexed)"
            }
            ParseErrorKind::TooDeep => "nesting is too deep",
        }
    }
}

/// A query that did not parse: where (byte offset into the query string) and why.
///
/// ```
/// use hld_inverted_index::{ParseErrorKind, Query};
/// let e = Query::parse("rust OR").unwrap_err();
/// assert_eq!((e.pos, e.kind), (5, ParseErrorKind::MissingRightOperand));
/// assert_eq!(e.to_string(), "at byte 5: operator has nothing on its right");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ParseError {
    /// Byte offset in the query string where the problem is.
    pub pos: usize,
    /// What the problem is.
    pub kind: ParseErrorKind,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {}: {}", self.pos, self.kind.reason())
    }
}

impl std::error::Error for ParseError {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok<'a> {
    Open,
    Close,
    Minus,
    And,
    Or,
    Not,
    Word(&'a str),
    Quoted(&'a str),
}

fn err(pos: usize, kind: ParseErrorKind) -> ParseError {
    ParseError { pos, kind }
}

fn lex(s: &str) -> Result<Vec<(usize, Tok<'_>)>, ParseError> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        // Non-ASCII whitespace separates too.
        let ch = s[i..].chars().next().unwrap_or(' ');
        if ch.is_whitespace() {
            i += ch.len_utf8();
            continue;
        }
        match c {
            b'(' => {
                out.push((i, Tok::Open));
                i += 1;
            }
            b')' => {
                out.push((i, Tok::Close));
                i += 1;
            }
            b'-' => {
                // A minus at the start of a word negates what follows it.
                let next = s[i + 1..].chars().next();
                match next {
                    Some(n) if !n.is_whitespace() && n != ')' => {
                        out.push((i, Tok::Minus));
                        i += 1;
                    }
                    _ => return Err(err(i, ParseErrorKind::MissingRightOperand)),
                }
            }
            b'"' => {
                let end = s[i + 1..]
                    .find('"')
                    .ok_or(err(i, ParseErrorKind::UnclosedQuote))?;
                out.push((i, Tok::Quoted(&s[i + 1..i + 1 + end])));
                i += end + 2;
            }
            _ => {
                let start = i;
                while i < b.len() {
                    let ch = s[i..].chars().next().unwrap_or(' ');
                    if ch.is_whitespace() || ch == '(' || ch == ')' || ch == '"' {
                        break;
                    }
                    i += ch.len_utf8();
                }
                let w = &s[start..i];
                let t = match w {
                    "AND" => Tok::And,
                    "OR" => Tok::Or,
                    "NOT" => Tok::Not,
                    _ => Tok::Word(w),
                };
                out.push((start, t));
            }
        }
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<(usize, Tok<'a>)>,
    i: usize,
    len: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<Tok<'a>> {
        self.toks.get(self.i).map(|t| t.1)
    }

    fn pos(&self) -> usize {
        self.toks.get(self.i).map_or(self.len, |t| t.0)
    }

    /// True when the next token can start an operand.
    fn operand_next(&self) -> bool {
        matches!(
            self.peek(),
            Some(Tok::Open | Tok::Minus | Tok::Not | Tok::Word(_) | Tok::Quoted(_))
        )
    }

    fn or(&mut self, depth: usize) -> Result<Query, ParseError> {
        let mut kids = vec![self.and(depth)?];
        while self.peek() == Some(Tok::Or) {
            let p = self.pos();
            self.i += 1;
            if !self.operand_next() {
                return Err(err(p, ParseErrorKind::MissingRightOperand));
            }
            kids.push(self.and(depth)?);
        }
        Ok(Query::or(kids))
    }

    fn and(&mut self, depth: usize) -> Result<Query, ParseError> {
        if matches!(self.peek(), Some(Tok::And | Tok::Or)) {
            return Err(err(self.pos(), ParseErrorKind::MissingLeftOperand));
        }
        let mut kids = vec![self.unary(depth)?];
        loop {
            match self.peek() {
                None | Some(Tok::Or | Tok::Close) => break,
                Some(Tok::And) => {
                    let p = self.pos();
                    self.i += 1;
                    if !self.operand_next() {
                        return Err(err(p, ParseErrorKind::MissingRightOperand));
                    }
                }
                _ => {}
            }
            kids.push(self.unary(depth)?);
        }
        Ok(Query::and(kids))
    }

    fn unary(&mut self, depth: usize) -> Result<Query, ParseError> {
        if depth >= MAX_DEPTH {
            return Err(err(self.pos(), ParseErrorKind::TooDeep));
        }
        match self.peek() {
            Some(Tok::Minus | Tok::Not) => {
                let p = self.pos();
                self.i += 1;
                if !self.operand_next() {
                    return Err(err(p, ParseErrorKind::MissingRightOperand));
                }
                Ok(Query::Not(Box::new(self.unary(depth + 1)?)))
            }
            _ => self.primary(depth),
        }
    }

    fn primary(&mut self, depth: usize) -> Result<Query, ParseError> {
        let p = self.pos();
        match self.peek() {
            Some(Tok::Open) => {
                self.i += 1;
                if self.peek() == Some(Tok::Close) {
                    return Err(err(p, ParseErrorKind::EmptyGroup));
                }
                if self.peek().is_none() {
                    return Err(err(p, ParseErrorKind::UnclosedParen));
                }
                let q = self.or(depth + 1)?;
                if self.peek() != Some(Tok::Close) {
                    return Err(err(p, ParseErrorKind::UnclosedParen));
                }
                self.i += 1;
                Ok(q)
            }
            Some(Tok::Word(w)) => {
                self.i += 1;
                Query::term(w).ok_or(err(p, ParseErrorKind::NoSearchableText))
            }
            Some(Tok::Quoted(w)) => {
                self.i += 1;
                let mut terms: Vec<Query> = tokenize(w).map(Query::Term).collect();
                match terms.len() {
                    0 => Err(err(p, ParseErrorKind::NoSearchableText)),
                    1 => Ok(terms.pop().unwrap_or(Query::And(Vec::new()))),
                    _ => Err(err(p, ParseErrorKind::PhraseUnsupported)),
                }
            }
            Some(Tok::Close) => Err(err(p, ParseErrorKind::UnmatchedParen)),
            Some(Tok::And | Tok::Or) => Err(err(p, ParseErrorKind::MissingLeftOperand)),
            Some(Tok::Minus | Tok::Not) | None => Err(err(p, ParseErrorKind::MissingRightOperand)),
        }
    }
}

impl Query {
    /// Parses a search-box query.
    ///
    /// Grammar, loosest first: `OR` between alternatives; juxtaposition or `AND`
    /// between conjuncts; `-x` or `NOT x` negates a term or a parenthesised
    /// group; `( ... )` groups; `"word"` quotes one word. Operators are the
    /// uppercase words only: `or`, `and`, `not` are ordinary terms. Every word
    /// goes through [`tokenize`]; a word that splits into several tokens
    /// (`e-mail`) means all of them. No input panics; errors say where and why.
    pub fn parse(s: &str) -> Result<Query, ParseError> {
        let toks = lex(s)?;
        if toks.is_empty() {
            return Err(err(0, ParseErrorKind::Empty));
        }
        let mut p = Parser {
            toks,
            i: 0,
            len: s.len(),
        };
        let q = p.or(0)?;
        if p.i < p.toks.len() {
            // Only a `)` stops the top-level OR early.
            return Err(err(p.pos(), ParseErrorKind::UnmatchedParen));
        }
        Ok(q)
    }

    /// AND of `kids`, flattening nested ANDs; one child is returned as is.
    pub fn and(kids: impl IntoIterator<Item = Query>) -> Query {
        let mut v = Vec::new();
        for k in kids {
            match k {
                Query::And(inner) if !inner.is_empty() => v.extend(inner),
                k => v.push(k),
            }
        }
        if v.len() == 1 {
            v.pop().unwrap_or(Query::And(Vec::new()))
        } else {
            Query::And(v)
        }
    }

    /// OR of `kids`, flattening nested ORs; one child is returned as is.
    pub fn or(kids: impl IntoIterator<Item = Query>) -> Query {
        let mut v = Vec::new();
        for k in kids {
            match k {
                Query::Or(inner) if !inner.is_empty() => v.extend(inner),
                k => v.push(k),
            }
        }
        if v.len() == 1 {
            v.pop().unwrap_or(Query::Or(Vec::new()))
        } else {
            Query::Or(v)
        }
    }

    /// A term query for one token (`word` is tokenized; several tokens give
    /// their AND). `None` when `word` has no token.
    pub fn term(word: &str) -> Option<Query> {
        let terms: Vec<Query> = tokenize(word).map(Query::Term).collect();
        if terms.is_empty() {
            None
        } else {
            Some(Query::and(terms))
        }
    }

    /// `NOT self`.
    pub fn negate(self) -> Query {
        Query::Not(Box::new(self))
    }

    /// The distinct terms that score in [`InvertedIndex::search_ranked`](crate::InvertedIndex::search_ranked):
    /// those under an even number of negations, sorted.
    pub fn scoring_terms(&self) -> Vec<&str> {
        fn walk<'q>(q: &'q Query, neg: bool, out: &mut Vec<&'q str>) {
            match q {
                Query::Term(t) => {
                    if !neg {
                        out.push(t);
                    }
                }
                Query::And(k) | Query::Or(k) => k.iter().for_each(|k| walk(k, neg, out)),
                Query::Not(k) => walk(k, !neg, out),
            }
        }
        let mut out = Vec::new();
        walk(self, false, &mut out);
        out.sort_unstable();
        out.dedup();
        out
    }
}

impl std::str::FromStr for Query {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Query, ParseError> {
        Query::parse(s)
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Query::Term(t) => f.write_str(t),
            Query::And(k) if k.is_empty() => f.write_str("()"),
            Query::Or(k) if k.is_empty() => f.write_str("()"),
            Query::And(k) => {
                for (i, q) in k.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    match q {
                        Query::Or(_) | Query::And(_) => write!(f, "({q})")?,
                        q => write!(f, "{q}")?,
                    }
                }
                Ok(())
            }
            Query::Or(k) => {
                for (i, q) in k.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" OR ")?;
                    }
                    match q {
                        Query::Or(_) => write!(f, "({q})")?,
                        q => write!(f, "{q}")?,
                    }
                }
                Ok(())
            }
            Query::Not(q) => match **q {
                Query::Term(_) | Query::Not(_) => write!(f, "-{q}"),
                _ => write!(f, "-({q})"),
            },
        }
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Query {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Query {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Query, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Query::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Query {
        Query::Term(s.into())
    }

    fn e(s: &str) -> (usize, ParseErrorKind) {
        let e = Query::parse(s).unwrap_err();
        (e.pos, e.kind)
    }

    #[test]
    fn grammar() {
        assert_eq!(
            Query::parse("a b").unwrap(),
            Query::And(vec![t("a"), t("b")])
        );
        assert_eq!(
            Query::parse("a AND b").unwrap(),
            Query::parse("a b").unwrap()
        );
        assert_eq!(
            Query::parse("a b OR c").unwrap(),
            Query::Or(vec![Query::And(vec![t("a"), t("b")]), t("c")])
        );
        assert_eq!(
            Query::parse("a (b OR c)").unwrap(),
            Query::And(vec![t("a"), Query::Or(vec![t("b"), t("c")])])
        );
        assert_eq!(
            Query::parse("-a NOT b").unwrap(),
            Query::And(vec![t("a").negate(), t("b").negate()])
        );
        assert_eq!(
            Query::parse("x -(a OR b)").unwrap(),
            Query::And(vec![t("x"), Query::Or(vec![t("a"), t("b")]).negate()])
        );
        assert_eq!(Query::parse("--a").unwrap(), t("a").negate().negate());
        assert_eq!(Query::parse("((a))").unwrap(), t("a"));
        assert_eq!(
            Query::parse("or and not").unwrap(),
            Query::And(vec![t("or"), t("and"), t("not")])
        );
        assert_eq!(
            Query::parse("e-mail").unwrap(),
            Query::And(vec![t("e"), t("mail")])
        );
        assert_eq!(Query::parse("\"OR\"").unwrap(), t("or"));
        assert_eq!(
            Query::parse("#Rust @Bob").unwrap(),
            Query::And(vec![t("#rust"), t("@bob")])
        );
        assert_eq!(
            Query::parse("(a OR b) OR c").unwrap(),
            Query::Or(vec![t("a"), t("b"), t("c")])
        );
    }

    #[test]
    fn errors_say_where_and_why() {
        use ParseErrorKind::*;
        assert_eq!(e(""), (0, Empty));
        assert_eq!(e("   "), (0, Empty));
        assert_eq!(e("a OR"), (2, MissingRightOperand));
        assert_eq!(e("OR a"), (0, MissingLeftOperand));
        assert_eq!(e("a AND"), (2, MissingRightOperand));
        assert_eq!(e("a AND OR b"), (2, MissingRightOperand));
        assert_eq!(e("NOT"), (0, MissingRightOperand));
        assert_eq!(e("a -"), (2, MissingRightOperand));
        assert_eq!(e("a - b"), (2, MissingRightOperand));
        assert_eq!(e("(a"), (0, UnclosedParen));
        assert_eq!(e("a (b (c)"), (2, UnclosedParen));
        assert_eq!(e("a)"), (1, UnmatchedParen));
        assert_eq!(e(")"), (0, UnmatchedParen));
        assert_eq!(e("()"), (0, EmptyGroup));
        assert_eq!(e("a & b"), (2, NoSearchableText));
        assert_eq!(e("\"a b\""), (0, PhraseUnsupported));
        assert_eq!(e("x \"a"), (2, UnclosedQuote));
        assert_eq!(e("(a OR)"), (3, MissingRightOperand));
        assert_eq!(e(&"(".repeat(10_000)), (64, TooDeep));
        assert_eq!(e(&"-".repeat(100_000)).1, MissingRightOperand);
        assert_eq!(e(&format!("{}a", "-".repeat(100_000))).1, TooDeep);
        assert_eq!(e(&"NOT ".repeat(1000)).1, TooDeep);
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "a",
            "a b",
            "a OR b",
            "a b OR c d",
            "a (b OR c) -d",
            "-(a b) OR -c",
            "--a",
            "NOT (a OR b) c",
            "((a OR b) (c OR -d)) OR e",
        ] {
            let q = Query::parse(s).unwrap();
            assert_eq!(Query::parse(&q.to_string()).unwrap(), q, "{s}");
        }
    }

    #[test]
    fn scoring_terms() {
        let q = Query::parse("a b -c (d OR --e) -(f -g)").unwrap();
        assert_eq!(q.scoring_terms(), ["a", "b", "d", "e", "g"]);
    }
}
