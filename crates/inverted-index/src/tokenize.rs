//! The one tokenizer: documents and queries go through the same code, so a query
//! term matches exactly the tokens it would produce in a document.

/// Splits `text` into lower-cased tokens.
///
/// A token is a maximal run of Unicode alphanumeric characters or `_`; an
/// apostrophe (`'` or `’`) between two such characters stays inside the word
/// (`don't` is one token, `'quoted'` is `quoted`). A `#` or `@` directly before
/// a word and not directly after one is kept, so hashtags and mentions stay
/// whole: `#Rust` gives `#rust`, `@Alice` gives `@alice`, but `a#b` gives `a`
/// and `b`. Everything else (spaces, punctuation, symbols, emoji) separates
/// tokens. Lower-casing is Unicode's full mapping (`char::to_lowercase`).
///
/// ```
/// use hld_inverted_index::tokenize;
/// let t: Vec<String> = tokenize("Don't PANIC! #Rust @Ferris, e-mail: 42").collect();
/// assert_eq!(t, ["don't", "panic", "#rust", "@ferris", "e", "mail", "42"]);
/// ```
pub fn tokenize(text: &str) -> Tokens<'_> {
    Tokens { text, pos: 0 }
}

/// The iterator [`tokenize`] returns.
#[derive(Clone, Debug)]
pub struct Tokens<'a> {
    text: &'a str,
    pos: usize,
}

#[inline]
fn is_word(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric() || c == '_'
    } else {
        c.is_alphanumeric()
    }
}

#[inline]
fn is_apostrophe(c: char) -> bool {
    c == '\'' || c == '\u{2019}'
}

impl<'a> Tokens<'a> {
    /// Tokens of `text` (the same as [`tokenize`]).
    pub fn new(text: &'a str) -> Tokens<'a> {
        Tokens { text, pos: 0 }
    }

    /// Writes the next token into `out` (cleared first) and returns its byte
    /// range in the text, or `None` at the end. Reuses `out`'s allocation: the
    /// index ingests through this without allocating per token.
    pub fn next_into(&mut self, out: &mut String) -> Option<(usize, usize)> {
        out.clear();
        let bytes = self.text.as_bytes();
        let len = bytes.len();
        let mut i = self.pos;
        // Find the start of the next token.
        let mut prev_word = i > 0 && prev_char(self.text, i).is_some_and(is_word);
        loop {
            if i >= len {
                self.pos = len;
                return None;
            }
            let c = char_at(self.text, i);
            if is_word(c) {
                break;
            }
            if (c == '#' || c == '@') && !prev_word {
                let next = i + 1;
                if next < len && is_word(char_at(self.text, next)) {
                    out.push(c);
                    i = next;
                    break;
                }
            }
            prev_word = false;
            i += c.len_utf8();
        }
        let start = if out.is_empty() { i } else { i - 1 };
        // Consume the word.
        while i < len {
            let c = char_at(self.text, i);
            if is_word(c) {
                push_lower(out, c);
                i += c.len_utf8();
            } else if is_apostrophe(c) {
                let next = i + c.len_utf8();
                if next < len && is_word(char_at(self.text, next)) {
                    out.push(c);
                    i = next;
                } else {
                    break;
                }
            } else {
                break;
            }
        }
        self.pos = i;
        Some((start, i))
    }
}

#[inline]
fn char_at(s: &str, i: usize) -> char {
    let b = s.as_bytes()[i];
    if b < 0x80 {
        b as char
    } else {
        // `i` is always on a char boundary: we only ever step by `len_utf8`.
        s[i..].chars().next().unwrap_or('\u{FFFD}')
    }
}

#[inline]
fn prev_char(s: &str, i: usize) -> Option<char> {
    s[..i].chars().next_back()
}

#[inline]
fn push_lower(out: &mut String, c: char) {
    if c.is_ascii() {
        out.push(c.to_ascii_lowercase());
    } else {
        out.extend(c.to_lowercase());
    }
}

impl Iterator for Tokens<'_> {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        let mut s = String::new();
        self.next_into(&mut s).map(|_| s)
    }
}

impl std::iter::FusedIterator for Tokens<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Vec<String> {
        tokenize(s).collect()
    }

    #[test]
    fn words_and_case() {
        assert_eq!(t("Hello, World!"), ["hello", "world"]);
        assert_eq!(t("ÉCOLE straße ΣΊΣΥΦΟΣ"), ["école", "straße", "σίσυφοσ"]);
        assert_eq!(t(""), Vec::<String>::new());
        assert_eq!(t("  ...  "), Vec::<String>::new());
        assert_eq!(t("snake_case x2"), ["snake_case", "x2"]);
    }

    #[test]
    fn tags_and_mentions() {
        assert_eq!(t("#Rust @bob"), ["#rust", "@bob"]);
        assert_eq!(t("a#b c@d"), ["a", "b", "c", "d"]);
        assert_eq!(t("##x #"), ["#x"]);
        assert_eq!(t("(#tag)"), ["#tag"]);
        assert_eq!(t("email@example.com"), ["email", "example", "com"]);
    }

    #[test]
    fn apostrophes() {
        assert_eq!(t("don't 'quoted' it's’"), ["don't", "quoted", "it's"]);
        assert_eq!(t("rock’n’roll"), ["rock’n’roll"]);
    }

    #[test]
    fn next_into_ranges() {
        let text = "ab #cd";
        let mut it = tokenize(text);
        let mut s = String::new();
        assert_eq!(it.next_into(&mut s), Some((0, 2)));
        assert_eq!(it.next_into(&mut s), Some((3, 6)));
        assert_eq!(s, "#cd");
        assert_eq!(it.next_into(&mut s), None);
    }
}
