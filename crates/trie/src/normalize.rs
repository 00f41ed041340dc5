//! Case and whitespace folding for type-ahead keys.

/// Folds a query for a case-insensitive suggester: Unicode lowercase
/// (`str::to_lowercase`, so `"ÉCOLE"` becomes `"école"`), leading and
/// trailing whitespace removed, inner runs of whitespace collapsed to one
/// ASCII space.
///
/// The tries never fold on their own: they store and compare bytes, so a
/// case-sensitive index stays possible. Apply this to every term on insert
/// *and* to every prefix on query. While the user is still typing a
/// trailing space is meaningful ("new " completes to "new york", not to
/// "newton"), so for prefixes keep one trailing space if the raw input had
/// one: [`normalize`] drops it, and callers add it back.
///
/// ```
/// assert_eq!(hld_trie::normalize("  New   YORK "), "new york");
/// assert_eq!(hld_trie::normalize("ÉCOLE Normale"), "école normale");
/// ```
pub fn normalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&word.to_lowercase());
    }
    out
}
